"""Connections to pods: a FIFO pool per endpoint, and the protocol that reads responses.

Discipline (style-models.md §12): a connection goes back to the pool only after its response was
read completely, the request was sent completely and both sides allow keep-alive; on reuse it is
checked for age, request count and a close from the pod. Anything in doubt is closed, never
reused (a parse error, an early response, a HEAD response: httptools cannot mark a HEAD
response bodiless, so its parser would wait for a body that never comes).

The protocol never buffers a body: every callback passes straight to the `Exchange` that owns
the connection for the current request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from gateway.proxy.errors import ConnectFailed, ConnectTimeout, InvalidResponse, UpstreamReset

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange
    from routing.model import Endpoint


class UpstreamConnection(asyncio.Protocol):
    """One TCP connection to one pod, serving one exchange at a time."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.requests = 0
        self.idle_since = 0.0
        self.last_read = 0.0
        self.reused = False
        self.closed = False
        self.write_paused = False
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._interim = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # a pod must not talk on an idle connection
            self.close()
            return
        self.last_read = exchange.loop.time()
        down = exchange.down
        down.cork()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            exchange.upstream_failed(InvalidResponse("malformed response"))
            self.close()
        finally:
            down.uncork()

    def eof_received(self) -> bool:
        exchange = self.exchange
        if exchange is not None:
            exchange.upstream_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.upstream_failed(UpstreamReset(str(exc or "connection closed by the pod")))

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.exchange is not None:
            self.exchange.pause_client_reading()

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
        self._interim = 100 <= status < 200
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
        """Write request bytes (head or body) to the pod."""
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        """Close now; the connection will not be reused."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (a request abandoned midway)."""
        self.closed = True
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
        self._idle: dict[tuple[str, int], deque[UpstreamConnection]] = {}
        self.opened = 0
        self.reused = 0
        self.failed = 0

    def take_idle(
        self, endpoint: Endpoint, *, max_age: float, max_requests: int
    ) -> UpstreamConnection | None:
        """An idle connection to `endpoint` that is still fit for a request, or None."""
        idle = self._idle.get((endpoint.address, endpoint.port))
        now = self.loop.time()
        while idle:
            conn = idle.popleft()
            if conn.closed or now - conn.idle_since > max_age or conn.requests >= max_requests:
                conn.close()
                continue
            conn.reused = True
            self.reused += 1
            return conn
        return None

    async def connect(self, endpoint: Endpoint, timeout: float) -> UpstreamConnection:
        """A new connection to `endpoint`; `ConnectFailed` or `ConnectTimeout` when it fails."""
        key = (endpoint.address, endpoint.port)
        try:
            async with asyncio.timeout(timeout):
                _, conn = await self.loop.create_connection(
                    lambda: UpstreamConnection(key), endpoint.address, endpoint.port
                )
        except TimeoutError:
            self.failed += 1
            raise ConnectTimeout(f"connecting to {endpoint.hostport} timed out") from None
        except OSError as err:
            self.failed += 1
            raise ConnectFailed(
                f"connecting to {endpoint.hostport}: {err.strerror or err}"
            ) from None
        self.opened += 1
        return conn

    def release(self, conn: UpstreamConnection, *, max_idle: int) -> None:
        """Keep a connection whose exchange ended cleanly, or close it when the pool is full."""
        conn.exchange = None
        idle = self._idle.setdefault(conn.key, deque())
        if conn.closed or len(idle) >= max_idle:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        idle.append(conn)

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
