"""The client side of the proxy: an asyncio Protocol on httptools, one per connection.

Theory of operation
-------------------
Bytes arrive in `data_received` and are fed to the httptools request parser, whose callbacks
come back in wire order: `on_message_begin`, `on_url`, `on_header`…, `on_headers_complete`,
`on_body`…, `on_message_complete`. When a head is complete it is checked (`request.check`), the
live snapshot is read once, and an `Exchange` is queued. Exchanges run one at a time, in order,
so pipelined requests are answered in the order they came; while one runs, reading pauses as
soon as a further request is queued, which bounds what a pipelining client can make us hold.

Limits are enforced on bytes received, not in parser callbacks (reliability.md §0.4): before a
head is complete, the bytes fed are counted and the end of the head is searched for, so a
client cannot make the parser accumulate more than `max_head_bytes` (431) or send a request
line longer than `max_uri_bytes` (414). Every early error answers and closes the connection.

One timer per connection, re-armed lazily, enforces three deadlines: the keep-alive idle time
between requests (silent close), the total time to receive a head (408), and the time between
two reads of a request body (408, or a close once a response has started). Activity only
updates a timestamp; the timer compares when it fires. Setting a deadline replaces the timer
only when the armed one would fire too late, and a timer is never armed later than a new
request's head deadline could fall, so the requests of a kept-alive connection move the
deadline without making or cancelling a timer each.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Final, cast

import httptools

from gateway.proxy.exchange import Exchange
from gateway.proxy.request import LINE_FEED, Peer, RequestHead, check, http_version
from gateway.proxy.request_body import RequestBody
from gateway.proxy.responses import error_response
from gateway.proxy.tunnel import Side
from gateway.proxy.upgrade import upgrade_offer
from routing.globals import GlobalConfig

if TYPE_CHECKING:
    from gateway.proxy.clientcerts import Presented
    from gateway.proxy.server import ProxyServer

logger = logging.getLogger(__name__)

_DEFAULT_CONFIG: Final = GlobalConfig()
MAX_HEADERS: Final = 100
"""Header fields per request (431 beyond), as Envoy and Kestrel."""
_METHOD_NAMES: Final = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
}
"""The usual methods' names as text, without decoding them for each request."""
CLIENT_SEND_TIMEOUT: Final = 60.0
"""A client that takes no response bytes for this long is disconnected (nginx send_timeout)."""
FIRST_REQUEST_GRACE: Final = 1.0
"""At shutdown, how long a new connection may take to start its first request."""
SEND_SOON_BYTES: Final = 64 * 1024
"""Held bytes above which a connection sends at once rather than with the turn's others."""
LINGER_IDLE: Final = 5.0
"""Lingering close: give up when the client sends nothing for this long (nginx 5 s)…"""
LINGER_TOTAL: Final = 30.0
"""…or after this long in all (nginx lingering_time)."""


class _HeadError(Exception):
    """Raised from a parser callback to stop parsing with a status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class DownstreamProtocol(asyncio.Protocol):
    """One client connection."""

    client_certificate: Presented | None = None
    """What the TLS client showed, once a request asked (`gateway.proxy.clientcerts`)."""

    def __init__(self, server: ProxyServer, scheme: str = "http") -> None:
        # settings and shared state
        self.server = server
        self.loop = server.loop
        self.scheme = scheme
        self.config = _current_config(server)
        # per connection
        self.transport: asyncio.Transport | None = None
        self.peer = Peer("", 0, 0, scheme)
        self.parser = httptools.HttpRequestParser(self)
        self.pipeline: deque[Exchange] = deque()
        self.requests_served = 0
        self.read_paused = False
        self.write_paused = False
        self.write_paused_since = 0.0
        self._corked: list[bytes] | None = None
        self._began = 0.0
        """The loop's time when the latest request's first byte was parsed."""
        self.closing = False
        self.lingering = False
        self.linger_until = 0.0
        self.stop_parsing = False
        self.pending_error = 0
        self.held: bytes | None = None
        """What the client sent after an upgrade request, kept unparsed until the pod accepts
        the upgrade (tunnel bytes) or refuses it (HTTP again)."""
        # per request being parsed
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._in_head = False
        self._head_bytes = 0
        self._tail = b""
        self._line_done = False
        # timeouts
        self._deadline = 0.0
        self._deadline_status = 0
        self._timer: asyncio.TimerHandle | None = None
        self.last_body_read = 0.0

    # --- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        sock = transport.get_extra_info("sockname") or ("", 0)
        self.peer = Peer(str(peer[0]), int(peer[1]), int(sock[1]), self.scheme)
        self.server.connection_opened(self)
        self._idle(self.loop.time())

    def connection_lost(self, exc: Exception | None) -> None:
        client_left = not self.closing  # else the gateway closed it, its requests recorded
        self.closing = True
        self._cancel_timer()
        self.server.connection_closed(self)
        if self.pipeline and self.pipeline[0].tunnel is not None:
            return  # the tunnel's end finishes its exchange, which is then logged
        for exchange in self.pipeline:
            exchange.finished = True
        if self.pipeline:
            current = self.pipeline[0]
            self.server.cancel(current)
            if client_left:
                # Logged and counted as nginx does: 499 when no answer had started, else the
                # answer's status and the bytes sent so far.
                if not current.response_started:
                    current.status = 499
                self.server.observe(current, self.loop.time())
        self.pipeline.clear()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._deadline = min(self.loop.time() + LINGER_IDLE, self.linger_until)
            return  # discarded: the client is still sending a body we answered without reading
        if self.closing or self.stop_parsing:
            return
        if self._in_head or not self.pipeline:
            status = self._check_head_size(data)
            if status:
                self._fail(status)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as err:
            cause = err.__context__ or err.__cause__
            self._fail(cause.status if isinstance(cause, _HeadError) else 400)
        except httptools.HttpParserUpgrade as err:
            self._upgrade(data, int(err.args[0]))
        except httptools.HttpParserError:
            if not self.stop_parsing:  # data after `Connection: close` is ignored, not an error
                self._fail(400)

    def eof_received(self) -> bool:
        # A half-closed client may still read what it asked for; close once it is answered.
        if not self.pipeline or self.lingering:
            return False
        self.stop_parsing = True
        return True

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_paused_since = self.loop.time()
        if self.pipeline:
            self.pipeline[0].client_paused()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.pipeline:
            self.pipeline[0].client_resumed()

    # --- httptools callbacks, in wire order --------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._in_head = True
        self._began = now = self.loop.time()
        if not self.pipeline:
            self._set_deadline(self.config.client_header_timeout, 408, now)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.config.max_uri_bytes:
            raise _HeadError(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # a trailer: dropped, never merged into the head (reliability.md §2 #12)
        self._headers.append((name, value))
        if len(self._headers) > MAX_HEADERS:
            raise _HeadError(431)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._tail = b""
        self._line_done = False
        parser = self.parser
        method = parser.get_method()
        keep_alive = parser.should_keep_alive()
        head = RequestHead(
            _METHOD_NAMES.get(method) or method.decode("ascii", "replace"),
            self._url,
            "",
            self._headers,
            keep_alive,
        )
        head.version = http_version(parser, keep_alive, head.names)
        snapshot = self.server.holder.current
        self.config = snapshot.config if snapshot is not None else _DEFAULT_CONFIG
        early = check(head, self.config.max_uri_bytes)
        if early:
            self.stop_parsing = True
        exchange = Exchange(self, head, snapshot, early, self._began)
        self.pipeline.append(exchange)
        if len(self.pipeline) == 1:
            self._start(exchange)
        else:
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        self.last_body_read = self.loop.time()
        exchange = self.pipeline[-1]
        if not exchange.finished:
            exchange.feed_body(body)

    def on_message_complete(self) -> None:
        exchange = self.pipeline[-1]
        exchange.body_complete()
        if not exchange.head.keep_alive:
            self.stop_parsing = True

    # --- exchanges ---------------------------------------------------------------------------
    def _start(self, exchange: Exchange) -> None:
        if exchange.head.has_body and not exchange.body.complete:
            self.last_body_read = now = self.loop.time()
            self._set_deadline(self.config.client_body_timeout, 408, now)
        else:
            self._deadline = 0.0  # the timer stays armed for the next deadline; see _set_deadline
        self.server.start(exchange)

    def exchange_finished(self, exchange: Exchange) -> None:
        """Called by an exchange when its response is complete (or abandoned)."""
        if not self.pipeline or self.pipeline[0] is not exchange:
            return
        self.pipeline.popleft()
        self.requests_served += 1
        now = self.loop.time()
        self.server.observe(exchange, now)
        if exchange.close_after or not exchange.head.keep_alive or self.transport is None:
            self.close(linger=not exchange.body.complete or bool(exchange.early))
            return
        if self.pipeline:
            self._start(self.pipeline[0])
            if len(self.pipeline) == 1:
                self.resume_reading()
        elif self.pending_error:
            self._write_error(self.pending_error)
        elif self.stop_parsing or self.closing or self.server.draining:
            self.close()
        else:
            held, self.held = self.held, None
            self._idle(now)
            self.resume_reading()
            if held:
                self.data_received(held)  # the pod refused an upgrade: HTTP goes on

    def keeps_alive(self, exchange: Exchange) -> bool:
        """Whether the connection stays open after `exchange` (decides `Connection: close`)."""
        config = exchange.config
        return not (
            exchange.close_after
            or not exchange.head.keep_alive
            or self.closing
            or self.server.draining
            or config.keep_alive <= 0
            or self.requests_served + 1 >= config.keep_alive_requests
            or self.pending_error
        )

    # --- writing and flow control ------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send bytes to the client unless the connection is gone (held while corked)."""
        if self._corked is not None:
            self._corked.append(data)
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def cork(self) -> None:
        """Hold writes until `uncork`: a response head and body from one upstream read then
        leave in one send instead of two (measured: a quarter of the loop's time was sends),
        and the responses of one turn leave back to back (`ProxyServer.send_soon`)."""
        if self._corked is None:
            self._corked = []
            self.server.send_soon(self)

    def uncork_soon(self) -> None:
        """Leave what is held for `ProxyServer.send_soon`, or send it now when it is large."""
        held = self._corked
        if held is not None and (
            len(held) > 8 or sum([len(piece) for piece in held]) > SEND_SOON_BYTES
        ):
            self.uncork()

    def uncork(self) -> None:
        """Send what was held, in one write."""
        held, self._corked = self._corked, None
        if held:
            self.write(held[0] if len(held) == 1 else b"".join(held))

    def abort(self) -> None:
        """Cut the connection now (a drain's deadline): the gateway's doing, not the client's."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        """Stop reading from the client (idempotent)."""
        if not self.read_paused and self.transport is not None and not self.closing:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the client again (idempotent); never while requests are queued."""
        if self.read_paused and self.transport is not None and not self.closing:
            if len(self.pipeline) > 1 or self.held is not None:
                return
            self.read_paused = False
            self.transport.resume_reading()

    def close(self, *, linger: bool = False) -> None:
        """Close after what was written has been sent.

        With `linger`, the client may still be sending a body we did not read: closing at once
        would make the kernel answer its data with a reset that can destroy our response before
        the client reads it. So, as nginx's lingering close: send our FIN, keep reading and
        discarding until the client closes, goes quiet for `LINGER_IDLE` or `LINGER_TOTAL`
        passes, then close.
        """
        self.uncork()  # what an upstream read produced goes out before the close
        transport = self.transport
        if linger and transport is not None and not self.closing and transport.can_write_eof():
            self.closing = self.lingering = True
            self.linger_until = self.loop.time() + LINGER_TOTAL
            transport.write_eof()
            self.resume_reading()
            self.read_paused = False
            transport.resume_reading()
            self._cancel_timer()
            self._set_deadline(LINGER_IDLE, 0, self.loop.time())
            return
        self.closing = True
        self.lingering = False
        self._cancel_timer()
        if transport is not None:
            transport.close()

    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else after the response in flight.

        A connection that has not sent its first request yet is not idle: it was accepted a
        moment ago, its client is sending a request it will not retry (clients retry only on
        a connection that served one before), and the listener is closed, so it could not go
        elsewhere. It gets `FIRST_REQUEST_GRACE` to start one, then is closed.
        """
        if self.pipeline or self._in_head or self.closing:
            return
        if self.requests_served:
            self.close()
        else:
            self._set_deadline(FIRST_REQUEST_GRACE, 0, self.loop.time())

    # --- errors ------------------------------------------------------------------------------
    def _check_head_size(self, data: bytes) -> int:
        """Count head bytes before feeding them; a status when a limit would be passed."""
        limit = self.config.max_head_bytes
        received = self._head_bytes + len(data)
        if received <= limit:
            self._head_bytes = received
            self._tail = data[-3:]
            self._line_done = self._line_done or LINE_FEED in data
            return 0
        # Does the head end within the limit? Look across the previous chunk's tail too.
        window = self._tail + data[: limit - self._head_bytes]
        if b"\r\n\r\n" in window:
            self._head_bytes = 0
            return 0
        if not (self._line_done or LINE_FEED in window):
            return 414  # the request line alone is longer than the whole head may be
        return 431

    def _fail(self, status: int) -> None:
        """A request that cannot be parsed: answer `status` in turn, then close."""
        self.stop_parsing = True
        broken = self.pipeline[-1] if self.pipeline else None
        if broken is not None and not broken.body.complete:
            # The error is in the body of a request already being forwarded: abandon it (the
            # pod's connection is dropped) and answer for it, unless its response has begun.
            self.pipeline.pop()
            self.server.cancel(broken)
            if broken.response_started:
                self.close()
                return
        if self.pipeline:
            self.pending_error = status
            self.pause_reading()
        else:
            self._write_error(status)

    def _write_error(self, status: int) -> None:
        self.server.count_early_error(status, self.peer.address)
        self.write(error_response(status, close=True))
        self.close(linger=True)

    # --- upgrades ----------------------------------------------------------------------------
    def _upgrade(self, data: bytes, offset: int) -> None:
        """llhttp stopped after a head with `Connection: upgrade` (or CONNECT) at `offset`.

        CONNECT is refused. A request that may become a tunnel (`gateway.proxy.upgrade`) offers
        the upgrade to the pod, and what follows its head is held, unparsed, until the pod
        answers. Any other is served as a plain request and parsing goes on.
        """
        if not self.pipeline or self.pipeline[-1].head.method == "CONNECT":
            self._fail(405)
            return
        exchange = self.pipeline[-1]
        if exchange.early:
            return  # answered with an error, then closed
        rest = data[offset:]
        head = exchange.head
        if head.has_body:
            self._parse_body_after_upgrade_head(exchange)
        else:
            offer = upgrade_offer(head)
            if offer is None:
                exchange.early = 400
                self.stop_parsing = True
                return
            if offer:
                head.upgrade = offer
                self.held = rest
                self.pause_reading()
                return
        if rest:
            self.data_received(rest)

    def _parse_body_after_upgrade_head(self, exchange: Exchange) -> None:
        """An upgrade request with a body is served as a plain request (never a tunnel).

        llhttp ends such a message at its head and would take the body for the new protocol's
        bytes, so the body is parsed by a fresh parser given a head with the same framing and
        no upgrade; that parser then reads the connection's later requests too.
        """
        head = exchange.head
        exchange.body = RequestBody(True)  # the message "ended" at its head: undo that
        self.stop_parsing = False
        framing = (
            b"Transfer-Encoding: chunked"
            if head.chunked
            else b"Content-Length: %d" % (head.content_length or 0)
        )
        resumer = _BodyAfterUpgradeHead(self)
        self.parser = httptools.HttpRequestParser(resumer)
        self.parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
        if self.pipeline[0] is exchange:
            self.last_body_read = self.loop.time()
            self._set_deadline(self.config.client_body_timeout, 408, self.loop.time())

    def hand_over(self) -> tuple[Side, bytes]:
        """The pod accepted the upgrade: this connection, for a tunnel to take over, and the
        bytes held since the request head. Writes held back by `cork` go first."""
        self.uncork()
        self._cancel_timer()
        held, self.held = self.held or b"", None
        self.read_paused = False
        assert self.transport is not None
        return Side(self.transport, self, self.write_paused, CLIENT_SEND_TIMEOUT), held

    # --- timeouts ----------------------------------------------------------------------------
    def _idle(self, now: float) -> None:
        self._set_deadline(self.config.keep_alive or 0.001, 0, now)

    def _set_deadline(self, delay: float, status: int, now: float) -> None:
        """Time the connection out `delay` seconds after the loop's time `now` with `status`
        (0: close without a response)."""
        self._deadline = now + delay
        self._deadline_status = status
        # A later deadline leaves the armed timer alone (it re-arms itself when it fires); an
        # earlier one must not wait for it.
        if self._timer is not None and self._timer.when() > self._deadline:
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            # No later than the head deadline of a request starting now: the next request's
            # `on_message_begin` then finds the timer due in time and keeps it.
            due = min(self._deadline, now + self.config.client_header_timeout)
            self._timer = self.loop.call_at(due, self._on_timer)

    def _cancel_timer(self) -> None:
        self._deadline = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self.lingering:
            if self.loop.time() >= self._deadline:
                self.lingering = False
                if self.transport is not None:
                    self.transport.close()
            else:
                self._timer = self.loop.call_at(self._deadline, self._on_timer)
            return
        if self.closing or not self._deadline:
            return
        now = self.loop.time()
        if self._deadline_status == 408 and self.pipeline and not self.pipeline[0].body.complete:
            self._deadline = max(
                self._deadline, self.last_body_read + self.config.client_body_timeout
            )
        if self.write_paused and now - self.write_paused_since >= CLIENT_SEND_TIMEOUT:
            self._timeout(0)
            return
        if now < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._on_timer)
            return
        self._timeout(self._deadline_status)

    def _timeout(self, status: int) -> None:
        if status and not (self.pipeline and self.pipeline[0].response_started):
            logger.info("client %s timed out: %d", self.peer.address, status)
            self.stop_parsing = True
            if self.pipeline:
                self.server.cancel(self.pipeline[0])
                self.pipeline.clear()
            self._write_error(status)
            return
        if self.pipeline:
            self.server.cancel(self.pipeline[0])
        self.close()


class _BodyAfterUpgradeHead:
    """Parser callbacks that skip a made-up head and pass the rest on (see
    `DownstreamProtocol._parse_body_after_upgrade_head`)."""

    def __init__(self, down: DownstreamProtocol) -> None:
        self.down = down
        self.skipping = True

    def on_message_begin(self) -> None:
        if not self.skipping:
            self.down.on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self.skipping:
            self.down.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.skipping:
            self.down.on_header(name, value)

    def on_headers_complete(self) -> None:
        if not self.skipping:
            self.down.on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self.down.on_body(body)

    def on_message_complete(self) -> None:
        self.skipping = False
        self.down.on_message_complete()


def _current_config(server: ProxyServer) -> GlobalConfig:
    snapshot = server.holder.current
    return snapshot.config if snapshot is not None else _DEFAULT_CONFIG
