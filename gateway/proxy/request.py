"""The request head: validation of what the parser let through.

httptools (llhttp) rejects broken framing but accepts much that a front proxy must not
(reliability.md §0, §2, §3.2): HTTP/0.9 with headers, several or no Host, a Host with `@`,
absolute-form and asterisk-form targets, fragments, `Transfer-Encoding: gzip, chunked`, TE in
HTTP/1.0, duplicate singleton headers, trailing white space in values. `check` turns each into
the status nginx users expect. `gateway.proxy.upstream_head` then rebuilds the request for the
pod from the parsed fields.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
from functools import lru_cache
from typing import Final
from urllib.parse import unquote_plus

import httptools

from gateway.proxy.caches import remember
from routing.globals import GlobalConfig
from routing.paths import normalise_request_path, request_host
from routing.redirect import RequestLine

# nginx's "unique" request headers: a second copy is a 400 (reliability.md §1.2).
SINGLETONS: Final = frozenset(
    {
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"expect",
        b"authorization",
        b"proxy-authorization",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-match",
        b"if-none-match",
        b"if-range",
        b"content-range",
    }
)
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_random_bits = random.getrandbits
_HOST_RE: Final = re.compile(rb"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(:[0-9]{1,5})?$")
# Single bytes as integers: on Python 3.11 `b"_" in name` first tries b"_" as an integer, and
# raises and clears a TypeError (220 ns a test); `ord("_") in name` is a memchr (22 ns).
_UNDERSCORE, _HASH = ord("_"), ord("#")
LINE_FEED: Final = ord("\n")
_NAMES: Final[dict[bytes, bytes]] = {}
"""Header names as sent: their lower-case form (`lower_name`)."""
_NAMES_LIMIT: Final = 1024
CACHED_NAME_LIMIT: Final = 64
"""Peers choose the names: the caches keyed by them (this one, `response_head`'s) hold 1,024
names of up to 64 bytes."""


def lower_name(name: bytes) -> bytes:
    """`name.lower()`, from a cache: clients and pods send the same few names all the time,
    a lookup costs less than the call, and the cached form's hash is kept for every set or
    dict it is looked up in next."""
    lower = _NAMES.get(name)
    if lower is None:
        lower = name.lower()
        if len(name) <= CACHED_NAME_LIMIT:
            remember(_NAMES, name, lower, _NAMES_LIMIT)
    return lower


def without_ows(value: bytes) -> bytes:
    """`value` without the blanks around it (RFC 9110's OWS: spaces and tabs), without a call
    for the usual value that has none: the parser drops the leading ones already."""
    if value and (value[-1] <= 32 or value[0] <= 32):
        return value.strip(b" \t")
    return value


class RequestIds:
    """Request IDs as nginx's `$request_id`: 128 random bits in 32 hex digits.

    Made 64 at a time: formatting in hex costs most of an ID, and one call for 64 costs
    little more than one for one. From `random`, not `os.urandom`: the IDs need no
    cryptographic strength. A forked worker starts a batch of its own, or two processes would
    hand out the same IDs."""

    BATCH: Final = 64

    def __init__(self) -> None:
        self._digits = ""
        self._next = 0

    def next(self) -> str:
        start = self._next
        if start >= len(self._digits):
            size = 16 * RequestIds.BATCH
            self._digits = _random_bits(8 * size).to_bytes(size, "little").hex()
            start = 0
        self._next = start + 32
        return self._digits[start : start + 32]

    def clear(self) -> None:
        self._digits = ""
        self._next = 0


_REQUEST_IDS: Final = RequestIds()
os.register_at_fork(after_in_child=_REQUEST_IDS.clear)


class RequestHead:
    """One parsed request head and what the gateway derived from it."""

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "host",
        "host_header",
        "keep_alive",
        "method",
        "names",
        "path",
        "query_string",
        "raw_path",
        "request_id",
        "request_id_received",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.names = [lower_name(name) for name, _ in headers]
        """The lower-case names of `headers`, in the same order (`check` keeps the two in
        step): every reader of a header by name compares these, lower-casing each name once."""
        self.keep_alive = keep_alive
        self.host = ""
        """Request host in matching form (lower case, no port)."""
        self.host_header = b""
        """The Host value to forward (as the client sent it, or the absolute-form authority)."""
        self.raw_path = ""
        """The request path as received (percent-escapes kept): what is forwarded."""
        self.path = ""
        """The normalised path routes are matched against."""
        self.query_string = ""
        self.content_length: int | None = None
        self.chunked = False
        self.expect_continue = False
        self.request_id = ""
        self.request_id_received = False
        """Whether `request_id` is the client's (the gateway's own are hex digits)."""
        self.upgrade = b""
        """The `Upgrade` value offered to the pod (`gateway.proxy.upgrade`); empty for none."""

    @property
    def has_body(self) -> bool:
        """Whether a body follows the head."""
        return self.chunked or bool(self.content_length)

    # --- what canary selectors and match conditions read (`routing.canary.RequestAttributes`)
    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name (nginx's `$http_<name>`)."""
        value = header_value(self, name.lower().encode("latin-1"))
        return value.decode("latin-1") if value is not None else None

    def cookie(self, name: str) -> str | None:
        """A cookie's value from the Cookie header(s) (nginx's `$cookie_<name>`: the name is
        compared without regard to case)."""
        wanted = name.lower().encode("latin-1")
        for index, key in enumerate(self.names):
            if key != b"cookie":
                continue
            value = self.headers[index][1]
            for pair in value.split(b";"):
                cookie_name, eq, cookie_value = pair.strip().partition(b"=")
                if eq and cookie_name.lower() == wanted:
                    return cookie_value.strip().decode("latin-1")
        return None

    def query(self, name: str) -> str | None:
        """The first value of a query parameter, percent-decoded (nginx's `$arg_<name>`)."""
        for pair in self.query_string.split("&"):
            key, eq, value = pair.partition("=")
            if eq and unquote_plus(key) == name:
                return unquote_plus(value)
        return None


def check(head: RequestHead, max_uri: int) -> int:
    """Validate and complete `head`; 0 when it may be served, else the status to answer with."""
    if head.version not in ("1.1", "1.0"):
        return 400 if head.version == "0.9" else 505
    if head.method in ("TRACE", "CONNECT"):
        return 405
    if len(head.target) > max_uri:
        return 414
    status = _check_headers(head)
    if status:
        return status
    return _check_target(head)


def _check_headers(head: RequestHead) -> int:
    seen: set[bytes] = set()
    host: bytes | None = None
    underscored = False
    headers, names = head.headers, head.names
    for index, (name, raw_value) in enumerate(headers):
        lower = names[index]
        value = without_ows(raw_value)
        if value is not raw_value:
            headers[index] = (name, value)
        if lower in SINGLETONS:
            if lower in seen:
                return 400
            seen.add(lower)
        if _UNDERSCORE in name:
            underscored = True
            continue
        if lower == b"host":
            host = value
        elif lower == b"content-length":
            if not value.isdigit():
                return 400
            head.content_length = int(value)
        elif lower == b"transfer-encoding":
            if head.version == "1.0":
                return 400
            if value.lower() != b"chunked":
                return 501
            head.chunked = True
        elif lower == b"expect":
            if value.lower() != b"100-continue":
                return 417
            head.expect_continue = True
        elif lower == b"x-request-id" and value:
            head.request_id = value.decode("latin-1")
            head.request_id_received = True
    if underscored:  # nginx drops names with underscores (underscores_in_headers off)
        kept = [i for i, (name, _) in enumerate(headers) if _UNDERSCORE not in name]
        head.headers = [headers[i] for i in kept]
        head.names = [names[i] for i in kept]
    if host is None:
        if head.version == "1.1":
            return 400
        host, matching = b"", ""  # an HTTP/1.0 request without a host
    else:
        checked = _matching_host(host)
        if checked is None:
            return 400
        matching = checked
    head.host_header = host
    head.host = matching
    if not head.request_id:
        head.request_id = _REQUEST_IDS.next()
    return 0


def _check_target(head: RequestHead) -> int:
    target = head.target
    if target[:1] != b"/":
        lower = target[:8].lower()
        if not lower.startswith((b"http://", b"https://")):
            return 400  # asterisk-form, authority-form or garbage
        # Absolute-form: the authority wins over Host (RFC 9112 §3.2.2); forward origin-form.
        rest = target.split(b"//", 1)[1]
        authority, slash, origin_path = rest.partition(b"/")
        matching = _matching_host(authority)
        if matching is None or b"@" in authority:
            return 400
        head.host_header = authority
        head.host = matching
        target = slash + origin_path if slash else b"/"
        head.target = target
    if _HASH in target:
        return 400
    text = target.decode("latin-1")
    path, _, query = text.partition("?")
    # The usual path is its own routing form: leave the call (interpreted) to the rest. The
    # test is `normalise_request_path`'s own first one, repeated here.
    plain = path[:1] == "/" and "%" not in path and "/." not in path and "//" not in path
    normalised = path if plain else normalise_request_path(path)
    if normalised is None:
        return 400
    head.raw_path, head.path, head.query_string = path, normalised, query
    return 0


_HOSTS: Final[dict[bytes, str | None]] = {}
"""Host values already checked: their `_matching_host` (1,024 at most: clients choose them)."""
_HOSTS_LIMIT: Final = 1024
_UNCHECKED: Final = "\x00unchecked"
"""What `_HOSTS` answers for a value it does not hold (None is an answer: malformed)."""


def _matching_host(raw: bytes) -> str | None:
    """A Host value (or an absolute-form authority) in `request_host` form, None if malformed
    (empty included, as nginx). Cached: most requests repeat a few hosts, and the check costs a
    regex and a call into `routing` (interpreted), about 2% of a request. A dict rather than
    `lru_cache`, whose call costs nearly as much as the lookup it saves."""
    found = _HOSTS.get(raw, _UNCHECKED)
    if found is not _UNCHECKED:
        return found
    matching = request_host(raw.decode("latin-1")) if _HOST_RE.match(raw) else None
    remember(_HOSTS, raw, matching, _HOSTS_LIMIT)
    return matching


@lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def in_networks(address: str, cidrs: tuple[str, ...]) -> bool:
    """Whether `address` is inside one of `cidrs` (False for what is not an address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(cidrs))


class Peer:
    """Where a connection comes from and arrived: fixed for the connection's life."""

    __slots__ = ("address", "forwarded", "port", "scheme", "server_port")

    def __init__(self, address: str, port: int, server_port: int, scheme: str = "http") -> None:
        self.address = address
        self.port = port
        self.server_port = server_port
        self.scheme = scheme
        self.forwarded = (
            f"X-Real-IP: {address}\r\nX-Forwarded-For: {address}\r\n"
            f"X-Forwarded-Port: {server_port}\r\nX-Forwarded-Proto: {scheme}\r\n"
        ).encode("latin-1")
        """The forwarded headers that depend on the connection alone, as they go upstream
        when the peer is not a trusted proxy: made once per connection, not per request."""


def header_value(head: RequestHead, name: bytes) -> bytes | None:
    """The first value of the header `name` (lower case), or None."""
    for index, key in enumerate(head.names):
        if key == name:
            return head.headers[index][1]
    return None


Client = tuple[str, bool]
"""The client's IP address and whether the peer is a trusted proxy (`client_address`)."""


def client_address(head: RequestHead, peer: Peer, config: GlobalConfig) -> Client:
    """(client IP, whether the peer is a trusted proxy) — nginx's realip with recursion.

    Computed once per request (`Exchange`): limits, access lists, redirects, the forwarded
    headers and the access log all use this one answer."""
    if not config.use_forwarded_headers or not in_networks(peer.address, config.proxy_real_ip_cidr):
        return peer.address, False
    forwarded = header_value(head, b"x-forwarded-for")
    client = peer.address
    if forwarded:
        for item in reversed(forwarded.decode("latin-1").split(",")):
            candidate = item.strip()
            if not candidate:
                continue
            client = candidate
            if not in_networks(candidate, config.proxy_real_ip_cidr):
                break
    return client, True


def request_line(head: RequestHead, peer: Peer) -> RequestLine:
    """The nginx variables redirect URLs are built from, for this request."""
    return RequestLine(
        scheme=peer.scheme,
        host=head.host,
        http_host=head.host_header.decode("latin-1"),
        server_port=peer.server_port,
        uri=head.path,
        raw_path=head.raw_path,
        args=head.query_string,
    )


def http_version(parser: httptools.HttpRequestParser, keep_alive: bool, names: list[bytes]) -> str:
    """The parsed request's HTTP version, without asking httptools when it is clear (`names`
    are the header names in lower case).

    httptools formats the version anew at every call, with a `str.format` that costs as much
    as the rest of a request's head callback. llhttp parses HTTP/0.9, 1.0, 1.1 and 2.0, and of
    those keeps a connection alive without a `Connection` header only for 1.1: so a kept-alive
    request without `Connection` or `Proxy-Connection` is HTTP/1.1
    (tests/proxy/test_request_check.py checks this against the installed httptools)."""
    if keep_alive and b"connection" not in names and b"proxy-connection" not in names:
        return "1.1"
    return str(parser.get_http_version())
