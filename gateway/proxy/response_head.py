"""The pod's response head, re-serialised for the client (DESIGN.md invariant 7).

Hop-by-hop headers and those the pod's `Connection` names are dropped; the route's header policy
removes, rewrites (`proxy-cookie-*`, `proxy-redirect-*`) and adds headers; the framing is ours:
`Content-Length` when the pod gave one, otherwise chunked for HTTP/1.1 clients and end-by-close
for HTTP/1.0 ones. `X-Request-ID` is added when the pod did not return it.

What stays with the exchange is the connection's fate (`Connection: close` or keep-alive), which
depends on the client connection as a whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from gateway.proxy.caches import remember
from gateway.proxy.errors import InvalidResponse
from gateway.proxy.request import (
    CACHED_NAME_LIMIT,
    RequestHead,
    lower_name,
    without_ows,
)
from gateway.proxy.responses import reason as reason_phrase
from routing.headers import HeaderPolicy, rewrite_cookie, rewrite_location, rewrite_refresh

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange

_PASS: Final = 0
_HOP_BY_HOP: Final = 1
"""Removed from responses (`Connection` and the rest of RFC 9110's hop-by-hop headers)."""
_LENGTH: Final = 2
_ENCODING: Final = 3
"""`Content-Length` and `Transfer-Encoding`: removed, the framing is re-emitted by us."""
_REQUEST_ID: Final = 4

_KINDS: Final = {
    b"connection": _HOP_BY_HOP,
    b"keep-alive": _HOP_BY_HOP,
    b"proxy-connection": _HOP_BY_HOP,
    b"te": _HOP_BY_HOP,
    b"trailer": _HOP_BY_HOP,
    b"upgrade": _HOP_BY_HOP,
    b"content-length": _LENGTH,
    b"transfer-encoding": _ENCODING,
    b"x-request-id": _REQUEST_ID,
}

_KIND_LENGTHS: Final = sum({1 << len(name) for name in _KINDS})
"""Bit n is set when a name of `_KINDS` has n bytes: a name of another length passes without
a lookup (Date, Server, ETag, Location…), which would hash the parser's fresh bytes."""

_KINDS_AS_SENT: Final[dict[bytes, int]] = {}
"""Response header names as pods send them: their kind (`_kind`)."""
_KINDS_LIMIT: Final = 1024

_STATUS_LINES: Final[dict[int, tuple[bytes, bytes]]] = {}
"""status: (reason as the pod sent it, status line), for reasons of up to 64 bytes: formatting
the number costs more than the lookup, and a pod sends the same reason for a status each time."""
_REASON_LIMIT: Final = 64

_PLAIN_CONNECTION: Final = frozenset({b"keep-alive", b"close"})
"""The usual `Connection` values: they name no header to remove."""

_ADD_HEADER_STATUSES: Final = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})
"""The statuses nginx's `add_header` (without `always`) adds to."""

Framing = tuple[list[bytes], bool, bool, bool]
"""(status line and header lines without `Connection` and the blank line, re-chunk the body,
the body ends when the pod closes, the client learns the end only from our close)."""


def response_head(
    status: int,
    reason: bytes,
    headers: list[tuple[bytes, bytes]],
    request: RequestHead,
    policy: HeaderPolicy | None,
    replaced: frozenset[bytes] = frozenset(),
) -> Framing:
    """The client's response head for the pod's, as lines to join; `InvalidResponse` for
    framing we refuse.

    `replaced` names (lower case) headers of the pod's that the gateway writes itself."""
    nominated = replaced
    for name, value in headers:
        # `len` first: most names cannot be `Connection`.
        if len(name) == 10 and lower_name(name) == b"connection":
            tokens = without_ows(value)
            if tokens not in _PLAIN_CONNECTION:  # as sent, then in lower case
                tokens = tokens.lower()
                if tokens not in _PLAIN_CONNECTION:
                    nominated = nominated | frozenset(t.strip() for t in tokens.split(b","))
    if policy is not None:
        nominated = nominated | policy.response_drop
        if policy.rewrites_response_values:
            headers = [(name, _rewrite_value(policy, name, value)) for name, value in headers]
    lines = [_status_line(status, reason)]
    length: bytes | None = None
    encoding: bytes | None = None
    request_id = False
    for name, value in headers:
        kind = _kind(name)
        if kind == _LENGTH:
            length = without_ows(value)
            continue
        if kind == _ENCODING:
            encoding = without_ows(value).lower()
            continue
        if kind == _HOP_BY_HOP or (nominated and lower_name(name) in nominated):
            continue
        if kind == _REQUEST_ID:
            request_id = True
        # One piece per header: joining many small pieces costs more than building these.
        lines.append(b"%b: %b\r\n" % (name, without_ows(value)))
    if encoding is not None and encoding != b"chunked":
        raise InvalidResponse(f"unsupported response Transfer-Encoding {encoding!r}")
    rechunk = close_delimited = ends_by_close = False
    bodiless = request.method == "HEAD" or status in (101, 204, 304)
    if length is not None and encoding is None:
        lines.append(b"Content-Length: %b\r\n" % length)
    elif not bodiless:
        if request.version == "1.1":
            rechunk = True
            lines.append(b"Transfer-Encoding: chunked\r\n")
        else:
            ends_by_close = True  # an HTTP/1.0 client learns the end from the close
        close_delimited = encoding is None
    if not request_id:
        lines.append(b"X-Request-ID: %b\r\n" % request.request_id.encode())
    if policy is not None:
        lines.append(policy.response_lines)
    return lines, rechunk, close_delimited, ends_by_close


def _kind(name: bytes) -> int:
    """What `response_head` does with a header, by its name as sent: one lookup per header
    instead of two (its lower-case form, then the kind of that), none for most lengths."""
    if not _KIND_LENGTHS >> len(name) & 1:
        return _PASS
    kind = _KINDS_AS_SENT.get(name)
    if kind is None:
        kind = _KINDS.get(lower_name(name), _PASS)
        if len(name) <= CACHED_NAME_LIMIT:
            remember(_KINDS_AS_SENT, name, kind, _KINDS_LIMIT)
    return kind


def _status_line(status: int, reason: bytes) -> bytes:
    known = _STATUS_LINES.get(status)
    if known is not None and known[0] == reason:
        return known[1]
    line = b"HTTP/1.1 %d %b\r\n" % (status, reason.strip() or reason_phrase(status).encode())
    if len(reason) <= _REASON_LIMIT:
        _STATUS_LINES[status] = (reason, line)
    return line


def client_head(
    ex: Exchange, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]
) -> bytes:
    """The whole head for the exchange's client: `response_head`, the gateway's own headers,
    and `Connection` as the client connection's fate decides (set on the exchange)."""
    policy = ex.route.headers if ex.route is not None else None
    lines, ex.rechunk, ex.close_delimited, ends_by_close = response_head(
        status, reason, headers, ex.head, policy, ex.replaced
    )
    lines += (ex.added_headers, ex.set_cookie)
    if ex.auth_cookies and status in _ADD_HEADER_STATUSES:
        lines.append(ex.auth_cookies)
    if ends_by_close or not ex.body.complete:
        ex.close_after = True  # by close for HTTP/1.0; unread body: cannot resync
    if not ex.down.keeps_alive(ex):
        ex.close_after = True
        lines.append(b"Connection: close\r\n\r\n")
    elif ex.head.version == "1.0":
        lines.append(b"Connection: keep-alive\r\n\r\n")
    else:
        lines.append(b"\r\n")
    return b"".join(lines)


def _rewrite_value(policy: HeaderPolicy, name: bytes, value: bytes) -> bytes:
    """`proxy-cookie-*` and `proxy-redirect-*` on one response header."""
    lower = name.lower()
    if lower == b"set-cookie" and (policy.cookie_domain or policy.cookie_path):
        return rewrite_cookie(policy, value.decode("latin-1")).encode("latin-1")
    if policy.redirect is not None:
        if lower == b"location":
            return rewrite_location(policy, value.decode("latin-1")).encode("latin-1")
        if lower == b"refresh":
            return rewrite_refresh(policy, value.decode("latin-1")).encode("latin-1")
    return value
