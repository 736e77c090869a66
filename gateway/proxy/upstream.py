"""Connections to pods: a FIFO pool per endpoint, and the protocol that reads responses.

Discipline (style-models.md §12): a connection goes back to the pool only after its response was
read completely, the request was sent completely and both sides allow keep-alive; on reuse it is
checked for age, request count and a close from the pod. Anything in doubt is closed, never
reused (a parse error, an early response, a HEAD response: httptools cannot mark a HEAD
response bodiless, so its parser would wait for a body that never comes).

The protocol never buffers a body: every callback passes straight to the `Exchange` that owns
the connection for the current request.

Each connection has one timer for the read and send timeouts of the exchanges it serves,
re-armed lazily (`watch`): an exchange asks for it to fire within its timeout, and a timer
already due sooner is left alone. It checks when it fires and, if the pod is still within the
limit, arms itself again for the rest. Requests on a kept-alive connection therefore make no
timer of their own (perf: making and cancelling a request's timers, on both sides, took about
7% of the CPU time of a small proxied request).

The pool also counts the connections open to each endpoint and for each backend, idle or busy,
for MSE's connection policy (`annotations.connections`): a `connect` under a policy whose limit
is reached waits for a connection to close or come back idle, first closing an idle connection
of the same backend to another endpoint when that makes room.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeVar, cast

import httptools

from gateway.proxy.errors import (
    ConnectFailed,
    ConnectionLimit,
    ConnectTimeout,
    InvalidResponse,
    UpstreamReset,
)

PoolKey = tuple[str, int, str]
"""(pod address, port, pod-TLS key or empty): TLS connections are pooled apart per SNI and
client certificate, and never mixed with plain ones."""

if TYPE_CHECKING:
    import ssl

    from annotations.connections import ConnectionPolicy
    from gateway.proxy.exchange import Exchange
    from routing.model import BackendKey, Endpoint


class UpstreamConnection(asyncio.Protocol):
    """One TCP connection to one pod, serving one exchange at a time."""

    def __init__(
        self, key: PoolKey, backend: BackendKey, loop: asyncio.AbstractEventLoop, hostport: str
    ) -> None:
        self.key = key
        self.hostport = hostport
        """The pod's `ip:port` for `$upstream_addr`, made once per connection, not per request."""
        self.loop = loop
        self.backend = backend
        """The backend it was opened for (connection-policy counts)."""
        self.on_lost: Callable[[UpstreamConnection], None] | None = None
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.requests = 0
        self.idle_since = 0.0
        self.last_read = 0.0
        self.reused = False
        self.closed = False
        self.write_paused = False
        self.write_paused_since = 0.0
        """The loop's time when writes last blocked: the send timeout counts from it."""
        self._timer: asyncio.TimerHandle | None = None
        self._held: list[bytes] | None = None
        """Request bytes held by `hold` until `send_held`."""
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._interim = False
        self.switched_to: asyncio.Protocol | None = None
        """The tunnel end that took this connection over after a 101 it accepted."""

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # a pod must not talk on an idle connection
            self.close()
            return
        self.last_read = self.loop.time()
        down = exchange.down
        down.cork()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            exchange.upstream_failed(InvalidResponse("malformed response"))
            self.close()
        except httptools.HttpParserUpgrade as err:
            # After a 101 head: what follows is the new protocol's, for the tunnel if one opened.
            rest = data[int(err.args[0]) :]
            if self.switched_to is None:
                self.close()
            elif rest:
                self.switched_to.data_received(rest)
        finally:
            down.uncork_soon()

    def eof_received(self) -> bool:
        exchange = self.exchange
        if exchange is not None:
            exchange.upstream_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._unwatch()
        if self.on_lost is not None:
            self.on_lost(self)
            self.on_lost = None
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.upstream_failed(UpstreamReset(str(exc or "connection closed by the pod")))

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_paused_since = now = self.loop.time()
        exchange = self.exchange
        if exchange is not None:
            exchange.pause_client_reading()
            self.watch(exchange.send_timeout(), now)  # sooner than the read timeout, maybe

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.exchange is not None:
            self.exchange.resume_client_reading()

    # httptools callbacks, in wire order
    def on_message_begin(self) -> None:
        self._headers = []
        self._reason = b""

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        self._interim = 100 <= status < 200 and status != 101
        if self._interim:
            return  # 100 Continue and other interim responses are not forwarded
        assert self.exchange is not None
        self.exchange.on_response_head(
            status, self._reason, self._headers, self.parser.should_keep_alive()
        )

    def on_body(self, body: bytes) -> None:
        if self.exchange is not None:
            self.exchange.on_response_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.exchange is not None:
            self.exchange.on_response_complete(self.parser.should_keep_alive())

    # used by the pool and the exchange
    def send(self, data: bytes) -> None:
        """Write request bytes (head or body) to the pod (held after `hold`)."""
        held = self._held
        if held is not None:
            held.append(data)
            return
        assert self.transport is not None
        self.transport.write(data)

    def hold(self) -> None:
        """Keep what `send` is given until `send_held`."""
        if self._held is None:
            self._held = []

    def send_held(self) -> None:
        """Write what was held since `hold`, in one write."""
        held, self._held = self._held, None
        if held and not self.closed and self.transport is not None:
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def watch(self, delay: float, now: float) -> None:
        """Have the timer fire within `delay` seconds of the loop's time `now`, when the
        exchange checks its timeouts (`Exchange.check_timeout`). A timer due sooner is kept: it
        re-arms itself."""
        when = now + delay
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.exchange is not None and not self.closed:
            self.exchange.check_timeout(self)

    def _unwatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Close now; the connection will not be reused."""
        self.closed = True
        self._unwatch()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (a request abandoned midway)."""
        self.closed = True
        self._unwatch()
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        """Stop reading the response while the client is not taking it."""
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read the response again."""
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()


class UpstreamPool:
    """Idle keep-alive connections per endpoint, reused first in, first out."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._idle: dict[PoolKey, deque[UpstreamConnection]] = {}
        self.opened = 0
        self.reused = 0
        self.failed = 0
        self.open: dict[PoolKey, int] = {}
        """Connections open (idle or busy) per endpoint."""
        self.open_for: dict[BackendKey, int] = {}
        """Connections open per backend they were opened for."""
        self._freed: list[asyncio.Future[None]] = []

    def take_idle(
        self,
        endpoint: Endpoint,
        now: float,
        *,
        max_age: float,
        max_requests: int,
        tls_key: str = "",
    ) -> UpstreamConnection | None:
        """An idle connection to `endpoint` (over the TLS of `tls_key`) that is still fit for
        a request at the loop's time `now`, or None."""
        key = (endpoint.address, endpoint.port, tls_key)
        return self._take(key, now, max_age, max_requests)

    def _take(
        self, key: PoolKey, now: float, max_age: float, max_requests: int
    ) -> UpstreamConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.popleft()
            if conn.closed or now - conn.idle_since > max_age or conn.requests >= max_requests:
                conn.close()
                continue
            conn.reused = True
            self.reused += 1
            return conn
        return None

    async def connect(
        self,
        endpoint: Endpoint,
        timeout: float,
        backend: BackendKey,
        policy: ConnectionPolicy | None = None,
        tls: tuple[str, ssl.SSLContext, str] | None = None,
    ) -> UpstreamConnection:
        """A new connection to `endpoint` for `backend`, within `policy`'s limits (waiting
        for room within `timeout`); `ConnectFailed` or `ConnectTimeout` when it fails (a
        failed TLS handshake too). `tls` is (pod-TLS key, context, SNI) for HTTPS pods."""
        key = (endpoint.address, endpoint.port, tls[0] if tls is not None else "")
        counted = False
        try:
            async with asyncio.timeout(timeout):
                if policy is not None:
                    freed = await self._room(key, backend, policy)
                    if freed is not None:
                        return freed
                # Counted from now, so that concurrent connects see each other.
                self.open[key] = self.open.get(key, 0) + 1
                self.open_for[backend] = self.open_for.get(backend, 0) + 1
                counted = True
                _, conn = await self.loop.create_connection(
                    lambda: UpstreamConnection(key, backend, self.loop, endpoint.hostport),
                    endpoint.address,
                    endpoint.port,
                    ssl=tls[1] if tls is not None else None,
                    server_hostname=tls[2] if tls is not None else None,
                )
        except BaseException as err:
            if counted:
                self._uncount(key, backend)
            if not isinstance(err, OSError):  # TimeoutError is one too
                raise
            self.failed += 1
            if not isinstance(err, TimeoutError):
                reason = err.strerror or err
                raise ConnectFailed(f"connecting to {endpoint.hostport}: {reason}") from None
            if not counted:
                raise ConnectionLimit(
                    f"no connection to {endpoint.hostport} came free within {timeout:g}s "
                    "(connection-policy limit)"
                ) from None
            raise ConnectTimeout(f"connecting to {endpoint.hostport} timed out") from None
        self.opened += 1
        conn.on_lost = self._lost
        return conn

    def _full(self, key: PoolKey, backend: BackendKey, policy: ConnectionPolicy) -> bool:
        per_endpoint, total = policy.max_per_endpoint, policy.max_connections
        return bool(
            (per_endpoint and self.open.get(key, 0) >= per_endpoint)
            or (total and self.open_for.get(backend, 0) >= total)
        )

    async def _room(
        self, key: PoolKey, backend: BackendKey, policy: ConnectionPolicy
    ) -> UpstreamConnection | None:
        """Wait until a new connection to `key` for `backend` is within `policy`, or an idle
        one to `key` comes back (returned: use it)."""
        most = policy.max_requests or _UNLIMITED
        while self._full(key, backend, policy):
            conn = self._take(key, self.loop.time(), math.inf, most)  # just released: any age
            if conn is not None:
                return conn
            if not self._close_idle_elsewhere(key, backend, policy):
                freed = self.loop.create_future()
                self._freed.append(freed)
                await freed
            await asyncio.sleep(0)  # let a closing connection report itself lost
        return None

    def _close_idle_elsewhere(
        self, key: PoolKey, backend: BackendKey, policy: ConnectionPolicy
    ) -> bool:
        """Make room under the Service limit by closing an idle connection of `backend` to
        another endpoint; False when there is none (or the endpoint's own limit binds)."""
        if policy.max_per_endpoint and self.open.get(key, 0) >= policy.max_per_endpoint:
            return False
        for other, idle in self._idle.items():
            for conn in idle:
                if other != key and conn.backend == backend and not conn.closed:
                    idle.remove(conn)
                    conn.close()
                    return True
        return False

    def _lost(self, conn: UpstreamConnection) -> None:
        """A counted connection closed."""
        self._uncount(conn.key, conn.backend)

    def _uncount(self, key: PoolKey, backend: BackendKey) -> None:
        """A connection is no longer open: uncount it and wake whoever waits for room."""
        _decrement(self.open, key)
        _decrement(self.open_for, backend)
        self._wake()

    def _wake(self) -> None:
        freed, self._freed = self._freed, []
        for waiter in freed:
            if not waiter.done():
                waiter.set_result(None)

    def release(self, conn: UpstreamConnection, *, max_idle: int) -> None:
        """Keep a connection whose exchange ended cleanly, or close it when the pool is full."""
        conn.exchange = None
        idle = self._idle.get(conn.key)
        if idle is None:  # not setdefault, which would make a deque per call
            idle = self._idle[conn.key] = deque()
        if conn.closed or len(idle) >= max_idle:
            conn.close()
            return
        conn.idle_since = conn.last_read  # its answer's end: the clock is not read again
        idle.append(conn)
        if self._freed:
            self._wake()  # a waiter for this endpoint may take it

    def expire(self, max_age: float) -> None:
        """Close idle connections older than `max_age` (called periodically)."""
        now = self.loop.time()
        for key, idle in list(self._idle.items()):
            while idle and (idle[0].closed or now - idle[0].idle_since > max_age):
                idle.popleft().close()
            if not idle:
                del self._idle[key]

    def idle_count(self) -> int:
        """Idle connections held now."""
        return sum(len(d) for d in self._idle.values())

    def close_all(self) -> None:
        """Close every idle connection (shutdown)."""
        for idle in self._idle.values():
            while idle:
                idle.popleft().close()
        self._idle.clear()


K = TypeVar("K")
_UNLIMITED: Final = 2**62


def _decrement(counts: dict[K, int], name: K) -> None:
    left = counts.get(name, 0) - 1
    if left > 0:
        counts[name] = left
    else:
        counts.pop(name, None)
