"""Protocol upgrades (WebSocket and others): which requests may become tunnels, and the checks a
pod's `101 Switching Protocols` must pass before one opens.

The rules (reliability.md §2 rows 41-43, and the websocket-smuggle scenarios):

* a request offers an upgrade only with `Connection: upgrade` and `Upgrade` (llhttp's own test);
  `Upgrade` alone is a hop-by-hop header of a plain request and is dropped;
* `h2c` is never offered to a pod: a tunnelled HTTP/2 connection would carry requests the
  gateway never routed or checked ("h2c smuggling"). The request is served as plain HTTP/1.1;
* a WebSocket offer needs a well-formed `Sec-WebSocket-Key` (16 random bytes in base64, RFC 6455
  §4.1), else 400, as HAProxy answers;
* the tunnel opens only on a 101 whose `Upgrade` names a protocol the client offered, and for
  WebSocket only with the `Sec-WebSocket-Accept` the key calls for. A pod that answers anything
  else (a 426, a 200, a 101 it was not asked for) gets no tunnel: its answer is a plain response
  and what the client sent after the upgrade request is parsed as HTTP again, so a refused
  upgrade cannot smuggle raw requests to the pod.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Final

from gateway.proxy.errors import InvalidResponse
from gateway.proxy.request import RequestHead, header_value
from gateway.proxy.response_head import response_head
from gateway.proxy.tunnel import Side, Tunnel

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.upstream import UpstreamConnection

NEVER_TUNNELLED: Final = frozenset({b"h2c"})
"""Upgrade protocols removed from every offer (HTTP/2 must not pass the gateway unseen)."""
_WEBSOCKET: Final = b"websocket"
_ACCEPT_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The constant RFC 6455 §1.3 appends to the key before hashing."""


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip() for token in value.split(b",") if token.strip()]


def _name(token: bytes) -> bytes:
    """A protocol's name without its version (`websocket`, `SPDY/3.1` → `spdy`), lower case."""
    return token.split(b"/", 1)[0].strip().lower()


def upgrade_offer(head: RequestHead) -> bytes | None:
    """The `Upgrade` value to offer the pod for a request llhttp parsed as an upgrade.

    Empty when nothing may be offered (serve it as a plain request), None when the offer is
    malformed (answer 400)."""
    kept = [
        t for t in _tokens(header_value(head, b"upgrade") or b"") if _name(t) not in NEVER_TUNNELLED
    ]
    if not kept:
        return b""
    if any(_name(t) == _WEBSOCKET for t in kept) and _websocket_key(head) is None:
        return None
    return b", ".join(kept)


def _websocket_key(head: RequestHead) -> bytes | None:
    key = header_value(head, b"sec-websocket-key")
    if key is None:
        return None
    try:
        decoded = base64.b64decode(key, validate=True)
    except binascii.Error:
        return None
    return key if len(decoded) == 16 else None


def websocket_accept(key: bytes) -> bytes:
    """The `Sec-WebSocket-Accept` value that proves a server read `key` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())


def accepted_switch(head: RequestHead, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The protocol a pod's 101 switches to, after checking the 101 answers `head`'s offer;
    `InvalidResponse` (502, no tunnel) when it does not."""
    if not head.upgrade:
        raise InvalidResponse("the pod switched protocols although the request offered none")
    switched: bytes | None = None
    accept: bytes | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == b"upgrade" and switched is None:
            switched = value.strip()
        elif lower == b"sec-websocket-accept":
            accept = value.strip()
        elif lower in (b"content-length", b"transfer-encoding"):
            raise InvalidResponse("a 101 response with a body length")
    offered = {_name(t) for t in _tokens(head.upgrade)}
    names = [_name(t) for t in _tokens(switched or b"")]
    if not names or any(n not in offered for n in names):
        raise InvalidResponse(f"the pod switched to {switched!r}, which the request did not offer")
    if _WEBSOCKET in names:
        key = _websocket_key(head)
        if key is None or accept != websocket_accept(key):
            raise InvalidResponse("the pod's Sec-WebSocket-Accept does not match the key")
    assert switched is not None
    return switched


def switching_head(
    ex: Exchange, reason: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[bytes, bytes]:
    """The 101 head for the client and the protocol switched to; `InvalidResponse` when the
    pod's 101 does not answer the request's offer."""
    switched = accepted_switch(ex.head, headers)
    policy = ex.route.headers if ex.route is not None else None
    lines = response_head(101, reason, headers, ex.head, policy, ex.replaced)[0]
    lines += (ex.added_headers, b"Connection: upgrade\r\nUpgrade: %b\r\n\r\n" % switched)
    return b"".join(lines), switched


def open_tunnel(ex: Exchange, conn: UpstreamConnection, switched: bytes) -> Tunnel:
    """Hand the client's connection and `conn` to a new tunnel (`gateway.proxy.tunnel`),
    timed by the route's read and send timeouts; it calls `ex.tunnel_ended` when it closes."""
    target = ex.target
    assert target is not None and conn.transport is not None
    labels = (target.namespace, target.ingress, target.service, protocol_label(switched))
    tunnel = Tunnel(ex.down.server.tunnels, labels, ex.read_timeout(), ex.tunnel_ended)
    client, held = ex.down.hand_over()
    pod = Side(conn.transport, conn, conn.write_paused, ex.send_timeout())
    conn.switched_to = tunnel.connect(client, pod, held)
    return tunnel


def protocol_label(switched: bytes) -> str:
    """The metrics label for a tunnel's protocol: `websocket` or `other` (bounded: the value
    comes from clients and pods)."""
    return "websocket" if _name(switched) == _WEBSOCKET else "other"
