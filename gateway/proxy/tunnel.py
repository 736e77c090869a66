"""The byte tunnel a connection becomes after a pod's `101 Switching Protocols`.

Theory of operation
-------------------
When an exchange accepts a 101 (`gateway.proxy.upgrade`), both transports are handed to a
`Tunnel`: each gets an `_End` protocol (`transport.set_protocol`), so from then on bytes read on
one side are written to the other without any HTTP parsing. The client's bytes that arrived
after the upgrade request and were held until the pod decided go first; so do the pod's bytes
that followed its 101 head.

Flow control is the transports' own: when one side's send buffer fills, reading from the other
side pauses until it drains, so a tunnel holds at most a few socket buffers. A half-close
(EOF) from one side is passed on as a half-close where the other transport can write one (TCP),
else the tunnel closes; so does a tunnel whose two sides have both sent EOF.

Timeouts follow nginx's upgraded connections: the tunnel closes when no byte has moved either
way for the route's `proxy-read-timeout`, or when one side has not taken what we wrote for the
send timeout (`proxy-send-timeout` towards the pod, 60 s towards the client). The exchange that
opened the tunnel ends when the tunnel does; it is logged then, with status 101, the whole
tunnel's duration and the bytes sent to the client. On shutdown tunnels run until the drain
deadline, as in-flight requests do, then close (reliability.md §4.4).

The original protocols are still told when their transport is lost, so the client connection
leaves the server's registry and the pod connection its pool's counts.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable


class Side(NamedTuple):
    """A connection as a tunnel takes it over."""

    transport: asyncio.Transport
    owner: asyncio.BaseProtocol
    """The protocol the transport had; told when the transport is lost."""
    write_paused: bool
    """Whether the transport's send buffer was already full."""
    send_timeout: float
    """Seconds it may leave what we write unread."""


class _End(asyncio.Protocol):
    """One side of a tunnel: what it reads is written to the other side."""

    def __init__(self, tunnel: Tunnel, side: Side) -> None:
        self.tunnel = tunnel
        self.transport = side.transport
        self.owner = side.owner
        self.send_timeout = side.send_timeout
        self.other: _End = self
        self.received = 0
        self.eof = False
        self.blocked_since = 0.0
        """When the transport stopped taking our writes (0 while it takes them)."""

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        self.tunnel.last_active = self.tunnel.loop.time()
        self.other.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        other = self.other.transport
        if self.other.eof or not other.can_write_eof() or other.is_closing():
            self.tunnel.close(self)
            return False
        other.write_eof()
        return True  # the other direction may still carry data

    def pause_writing(self) -> None:
        self.blocked_since = self.tunnel.loop.time()
        self.other.transport.pause_reading()
        self.tunnel.rearm()

    def resume_writing(self) -> None:
        self.blocked_since = 0.0
        if not self.other.transport.is_closing():
            self.other.transport.resume_reading()
        self.tunnel.last_active = self.tunnel.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.tunnel.close(self)
        self.owner.connection_lost(exc)


class Tunnel:
    """Bytes both ways between a client and a pod; see the module docstring."""

    def __init__(
        self,
        registry: Tunnels,
        labels: tuple[str, str, str, str],
        idle_timeout: float,
        on_end: Callable[[], None],
    ) -> None:
        self.registry = registry
        self.labels = labels
        """(namespace, Ingress, Service, protocol label) for metrics."""
        self.loop = asyncio.get_running_loop()
        self.idle_timeout = idle_timeout
        self._on_end = on_end
        self.last_active = self.loop.time()
        self.closed = False
        self.client: _End | None = None
        self.pod: _End | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connect(self, client: Side, pod: Side, held: bytes) -> asyncio.Protocol:
        """Take over both connections; `held` is what the client sent after its request head.
        Returns the pod's end: the caller feeds it the pod's bytes that followed its 101."""
        self.client, self.pod = _End(self, client), _End(self, pod)
        self.client.other, self.pod.other = self.pod, self.client
        client.transport.set_protocol(self.client)
        pod.transport.set_protocol(self.pod)
        self.registry.started(self)
        if held:
            self.client.data_received(held)
        for side, end in ((client, self.client), (pod, self.pod)):
            if side.write_paused:  # full already: the transport will not say so again
                end.pause_writing()
        if not pod.write_paused:
            client.transport.resume_reading()
        self.rearm()
        return self.pod

    @property
    def to_client(self) -> int:
        """Bytes the pod sent through the tunnel."""
        return self.pod.received if self.pod is not None else 0

    @property
    def to_pod(self) -> int:
        """Bytes the client sent through the tunnel."""
        return self.client.received if self.client is not None else 0

    def close(self, by: _End | None = None, *, reason: str = "", abort: bool = False) -> None:
        """End the tunnel: both transports close (after sending what is buffered, unless
        `abort`). `by` is the side whose close or EOF ended it, else `reason` says why."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if by is not None:
            reason = "client" if by is self.client else "pod"
        self.registry.ended(self, reason)
        for end in (self.client, self.pod):
            if end is not None:
                if abort:
                    end.transport.abort()
                else:
                    end.transport.close()
        self._on_end()

    # --- timeouts -----------------------------------------------------------------------------
    def rearm(self) -> None:
        """Arm the timer for the nearest deadline (lazily: activity only moves a timestamp)."""
        if self.closed:
            return
        when = self._deadline()
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = self.loop.call_at(when, self._check)

    def _deadline(self) -> float:
        blocked = [
            end.blocked_since + end.send_timeout
            for end in (self.client, self.pod)
            if end is not None and end.blocked_since
        ]
        if blocked:
            return min(blocked)  # reading is paused on purpose: only the send timeout runs
        return self.last_active + self.idle_timeout

    def _check(self) -> None:
        self._timer = None
        if self.closed:
            return
        if self.loop.time() >= self._deadline():
            self.close(reason="timeout")
        else:
            self.rearm()


class Tunnels:
    """The open tunnels and what became of closed ones (metrics, shutdown)."""

    def __init__(self) -> None:
        self.open: set[Tunnel] = set()
        self.opened: dict[tuple[str, str, str, str], int] = {}
        """Tunnels opened, by (namespace, Ingress, Service, protocol)."""
        self.closed: dict[str, int] = {}
        """Tunnels closed, by who closed them: client, pod, timeout or shutdown."""
        self._to_client = 0
        self._to_pod = 0

    def started(self, tunnel: Tunnel) -> None:
        self.open.add(tunnel)
        self.opened[tunnel.labels] = self.opened.get(tunnel.labels, 0) + 1

    def ended(self, tunnel: Tunnel, reason: str) -> None:
        self.open.discard(tunnel)
        self.closed[reason] = self.closed.get(reason, 0) + 1
        self._to_client += tunnel.to_client
        self._to_pod += tunnel.to_pod

    def bytes(self) -> tuple[int, int]:
        """Bytes carried by all tunnels so far: (pod to client, client to pod)."""
        return (
            self._to_client + sum(t.to_client for t in self.open),
            self._to_pod + sum(t.to_pod for t in self.open),
        )

    def close_all(self) -> None:
        """Shutdown: end every tunnel."""
        for tunnel in list(self.open):
            tunnel.close(reason="shutdown")
