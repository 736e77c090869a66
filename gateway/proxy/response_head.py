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

from gateway.proxy.errors import InvalidResponse
from gateway.proxy.request import RequestHead
from gateway.proxy.responses import reason as reason_phrase
from routing.headers import HeaderPolicy, rewrite_cookie, rewrite_location, rewrite_refresh

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange

# Removed from responses; Content-Length and Transfer-Encoding are re-emitted by us.
_HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
        b"content-length",
        b"transfer-encoding",
    }
)

_PLAIN_CONNECTION: Final = frozenset({b"keep-alive", b"close"})
"""The usual `Connection` values: they name no header to remove."""

_ADD_HEADER_STATUSES: Final = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})
"""The statuses nginx's `add_header` (without `always`) adds to."""

Framing = tuple[bytes, bool, bool, bool]
"""(status line and headers without `Connection` and the blank line, re-chunk the body, the body
ends when the pod closes, the client learns the end only from our close)."""


def response_head(
    status: int,
    reason: bytes,
    headers: list[tuple[bytes, bytes]],
    request: RequestHead,
    policy: HeaderPolicy | None,
    replaced: frozenset[bytes] = frozenset(),
) -> Framing:
    """The client's response head for the pod's; `InvalidResponse` for framing we refuse.

    `replaced` names (lower case) headers of the pod's that the gateway writes itself."""
    nominated = replaced
    for name, value in headers:
        # `len` first: most names cannot be `Connection`, and lower-casing each costs a call.
        if len(name) == 10 and name.lower() == b"connection":
            tokens = value.strip().lower()
            if tokens not in _PLAIN_CONNECTION:
                nominated = nominated | frozenset(t.strip() for t in tokens.split(b","))
    if policy is not None:
        nominated = nominated | policy.response_drop
        if policy.rewrites_response_values:
            headers = [(name, _rewrite_value(policy, name, value)) for name, value in headers]
    lines = [b"HTTP/1.1 %d %b\r\n" % (status, reason.strip() or reason_phrase(status).encode())]
    length: bytes | None = None
    encoding: bytes | None = None
    request_id = False
    for name, value in headers:
        lower = name.lower()
        if lower in _HOP_BY_HOP:
            if lower == b"content-length":
                length = value.strip()
            elif lower == b"transfer-encoding":
                encoding = value.strip().lower()
            continue
        if lower in nominated:
            continue
        request_id = request_id or lower == b"x-request-id"
        # Pieces, joined once below: no intermediate bytes per header.
        lines += (name, b": ", value.strip(), b"\r\n")
    if encoding is not None and encoding != b"chunked":
        raise InvalidResponse(f"unsupported response Transfer-Encoding {encoding!r}")
    rechunk = close_delimited = ends_by_close = False
    bodiless = request.method == "HEAD" or status in (101, 204, 304)
    if length is not None and encoding is None:
        lines.append(b"Content-Length: " + length + b"\r\n")
    elif not bodiless:
        if request.version == "1.1":
            rechunk = True
            lines.append(b"Transfer-Encoding: chunked\r\n")
        else:
            ends_by_close = True  # an HTTP/1.0 client learns the end from the close
        close_delimited = encoding is None
    if not request_id:
        lines.append(b"X-Request-ID: " + request.request_id.encode() + b"\r\n")
    if policy is not None:
        lines.append(policy.response_lines)
    return b"".join(lines), rechunk, close_delimited, ends_by_close


def client_head(
    ex: Exchange, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]
) -> bytes:
    """The whole head for the exchange's client: `response_head`, the gateway's own headers,
    and `Connection` as the client connection's fate decides (set on the exchange)."""
    policy = ex.route.headers if ex.route is not None else None
    head, ex.rechunk, ex.close_delimited, ends_by_close = response_head(
        status, reason, headers, ex.head, policy, ex.replaced
    )
    head += ex.added_headers + ex.set_cookie
    if ex.auth_cookies and status in _ADD_HEADER_STATUSES:
        head += ex.auth_cookies
    if ends_by_close or not ex.body.complete:
        ex.close_after = True  # by close for HTTP/1.0; unread body: cannot resync
    if not ex.down.keeps_alive(ex):
        ex.close_after = True
        return head + b"Connection: close\r\n\r\n"
    if ex.head.version == "1.0":
        return head + b"Connection: keep-alive\r\n\r\n"
    return head + b"\r\n"


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
