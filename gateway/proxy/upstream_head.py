"""The client's request head, re-serialised for the pod (DESIGN.md invariant 7).

The request is rebuilt from parsed fields with our own framing: the client's bytes never pass
through. Hop-by-hop headers and those the client's `Connection` names are dropped, the route's
header policy removes and adds headers, and the gateway sets `X-Request-ID`, `X-Real-IP` and the
`X-Forwarded-*` headers (a trusted proxy's own values are passed on). A custom error page's
request to the default backend (`error_page_head`) is built here too.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.proxy.request import Client, Peer, RequestHead, header_value
from routing.globals import GlobalConfig
from routing.headers import HeaderPolicy

# Removed before forwarding, whatever `Connection` says (RFC 9110 §7.6.1, httpoxy's `Proxy`).
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy",
        b"expect",
        b"content-length",
        b"host",
    }
)
# Set by the gateway; client values are dropped unless the peer is a trusted proxy.
FORWARDED: Final = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-real-ip",
    }
)
# Nothing in the Connection header may nominate these away.
_PROTECTED: Final = frozenset({b"host", b"content-length", b"authorization", b"x-request-id"})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


def upstream_head(
    head: RequestHead,
    peer: Peer,
    client: Client,
    config: GlobalConfig,
    path: str | None,
    policy: HeaderPolicy | None = None,
    *,
    copy: tuple[str, bytes, bool] | None = None,
    auth: tuple[frozenset[bytes], bytes] | None = None,
) -> bytes:
    """The request head to send upstream.

    `client` is the request's `client_address`; `path` is the rewritten path when a rewrite
    applies (re-encoded here), else None; `policy` is the route's header control. `copy` makes
    the head of a mirrored copy instead: (request target, Host, whether the body goes too),
    closing its connection after the answer. `auth` is what an external auth service
    decided the pod sees: (header names dropped from the client's, header lines added).
    """
    trusted = client[1]
    nominated = nominated_headers(head)
    if policy is not None:
        nominated = nominated | policy.request_drop
    if auth is not None:
        nominated = nominated | auth[0]
    host = policy.host if policy is not None and policy.host is not None else head.host_header
    with_body = True
    if copy is not None:
        target, host, with_body = copy
        line = f"{head.method} {target} HTTP/1.1\r\n".encode("latin-1")
    elif path is not None:
        line = f"{head.method} {target_of(head, path)} HTTP/1.1\r\n".encode("latin-1")
    else:  # the client's own target, as it came
        line = b"%b %b HTTP/1.1\r\n" % (head.method.encode("latin-1"), head.target)
    out = [line, b"Host: " + host + b"\r\n"]
    incoming: dict[bytes, bytes] | None = None
    names = head.names
    for index, (name, value) in enumerate(head.headers):
        lower = names[index]
        if lower in HOP_BY_HOP or (nominated and lower in nominated):
            continue
        if lower in FORWARDED:
            if incoming is None:
                incoming = {}
            incoming[lower] = value
            continue
        if lower == b"x-request-id":
            continue
        # One piece per header: joining many small pieces costs more than building these.
        out.append(b"%b: %b\r\n" % (name, value))
    out.append(_forwarded_lines(head, peer, client, config, incoming if trusted else None))
    if policy is not None:
        out.append(policy.request_lines)
    if auth is not None:
        out.append(auth[1])
    if copy is not None:
        out.append(b"Connection: close\r\n")
    elif head.upgrade:
        out.append(b"Connection: upgrade\r\nUpgrade: " + head.upgrade + b"\r\n")
    if head.chunked and with_body:
        out.append(b"Transfer-Encoding: chunked\r\n")
    elif head.content_length is not None and with_body:
        out.append(f"Content-Length: {head.content_length}\r\n".encode())
    elif head.method in _BODY_METHODS or head.has_body:
        out.append(b"Content-Length: 0\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def _forwarded_lines(
    head: RequestHead,
    peer: Peer,
    client: Client,
    config: GlobalConfig,
    trusted_incoming: dict[bytes, bytes] | None,
) -> bytes:
    """`X-Request-ID`, `X-Real-IP` and the `X-Forwarded-*` headers; `trusted_incoming` holds
    the client's `X-Forwarded-*` values when the peer is a trusted proxy, to be passed on."""
    if not client[1]:  # all but two are the connection's
        return b"X-Request-ID: %b\r\nX-Forwarded-Host: %b\r\n%b" % (
            head.request_id.encode("latin-1"),
            head.host_header,
            peer.forwarded,
        )
    client_ip = client[0]
    forwarded_for = client_ip
    forwarded_host = head.host_header.decode("latin-1")
    forwarded_port = str(peer.server_port)
    forwarded_proto = peer.scheme
    if trusted_incoming:
        incoming = trusted_incoming
        if config.compute_full_forwarded_for and incoming.get(b"x-forwarded-for"):
            forwarded_for = f"{incoming[b'x-forwarded-for'].decode('latin-1')}, {peer.address}"
        forwarded_host = _kept(incoming, b"x-forwarded-host", forwarded_host)
        forwarded_port = _kept(incoming, b"x-forwarded-port", forwarded_port)
        forwarded_proto = _kept(incoming, b"x-forwarded-proto", forwarded_proto)
    return (
        f"X-Request-ID: {head.request_id}\r\n"
        f"X-Real-IP: {client_ip}\r\n"
        f"X-Forwarded-For: {forwarded_for}\r\n"
        f"X-Forwarded-Host: {forwarded_host}\r\n"
        f"X-Forwarded-Port: {forwarded_port}\r\n"
        f"X-Forwarded-Proto: {forwarded_proto}\r\n"
    ).encode("latin-1")


# Set by the gateway on the request for a custom error page; client values are dropped.
_ERROR_PAGE_HEADERS: Final = frozenset(
    {
        b"x-code",
        b"x-format",
        b"x-original-uri",
        b"x-namespace",
        b"x-ingress-name",
        b"x-service-name",
        b"x-service-port",
        b"x-request-id",
    }
)


def _kept(incoming: dict[bytes, bytes], name: bytes, default: str) -> str:
    """A trusted proxy's `X-Forwarded-*` value when it sent one, else ours."""
    value = incoming.get(name)
    return value.decode("latin-1") if value else default


def error_page_head(
    head: RequestHead,
    client: str,
    code: int,
    namespace: str,
    ingress: str,
    service: str,
    port: object,
) -> bytes:
    """The request for a `custom-http-errors` page, as ingress-nginx's error location sends it
    to the default backend: `GET /` (`HEAD` for HEAD) with the client's end-to-end headers, no
    body, and what happened in the X- headers (`service`/`port`: who answered `code`)."""
    nominated = nominated_headers(head)
    out = [
        b"HEAD / HTTP/1.1\r\n" if head.method == "HEAD" else b"GET / HTTP/1.1\r\n",
        b"Host: " + head.host_header + b"\r\n",
    ]
    names = head.names
    for index, (name, value) in enumerate(head.headers):
        lower = names[index]
        if lower in HOP_BY_HOP or lower in nominated or lower in FORWARDED:
            continue
        if lower not in _ERROR_PAGE_HEADERS:
            out.append(name + b": " + value + b"\r\n")
    accept = (header_value(head, b"accept") or b"").decode("latin-1")
    original = f"{head.raw_path}?{head.query_string}" if head.query_string else head.raw_path
    out.append(
        (
            f"X-Code: {code}\r\n"
            f"X-Format: {accept}\r\n"
            f"X-Original-URI: {original}\r\n"
            f"X-Namespace: {namespace}\r\n"
            f"X-Ingress-Name: {ingress}\r\n"
            f"X-Service-Name: {service}\r\n"
            f"X-Service-Port: {port}\r\n"
            f"X-Request-ID: {head.request_id}\r\n"
            f"X-Real-IP: {client}\r\n"
            f"X-Forwarded-For: {client}\r\n\r\n"
        ).encode("latin-1")
    )
    return b"".join(out)


def nominated_headers(head: RequestHead) -> frozenset[bytes]:
    """Headers the client's `Connection` names: hop-by-hop, never passed on."""
    value = header_value(head, b"connection")
    if not value:
        return frozenset()
    return frozenset(t.strip().lower() for t in value.split(b",")) - _PROTECTED


_UNSAFE_PATH: Final = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")


def target_of(head: RequestHead, path: str | None) -> str:
    """The request target to send: the client's as it came (an empty query's `?` included, as
    nginx passes `$request_uri`), or `path` (a rewrite) with the query."""
    if path is None:
        return head.target.decode("latin-1")
    # A rewritten path is decoded text: escape what may not appear raw in a request target.
    base = _UNSAFE_PATH.sub(
        lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogateescape")),
        path,
    )
    return f"{base}?{head.query_string}" if head.query_string else base
