"""Listeners, the registry of client connections, and graceful shutdown.

`ProxyServer` owns what every connection shares: the snapshot holder, the upstream pool, the
balancer and the observers (metrics, access log). Shutdown follows style-models.md: stop
accepting, let idle connections close, tell busy ones to close after their response, wait up to
a deadline, then cut what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from gateway.proxy.choice import EndpointChooser
from gateway.proxy.extauth import ExternalAuthenticator
from gateway.proxy.mirror import Mirrors
from gateway.proxy.passwords import PasswordChecker
from gateway.proxy.podtls import PodContexts
from gateway.proxy.protocol import DownstreamProtocol
from gateway.proxy.ratelimit import RateLimiter
from gateway.proxy.tls import TlsTerminator
from gateway.proxy.tunnel import Tunnels
from gateway.proxy.upstream import UpstreamConnection, UpstreamPool
from gateway.snapshot import SnapshotHolder

if TYPE_CHECKING:
    import socket

    from gateway.proxy.exchange import Exchange
    from routing.certificates import KeyPair
    from routing.snapshot import Snapshot

logger = logging.getLogger(__name__)

POOL_SWEEP_INTERVAL: Final = 5.0
"""Seconds between sweeps that close expired idle pod connections."""

BACKLOG: Final = 1024
"""Connections the kernel may queue for a listening socket before it drops new ones."""

TLS_HANDSHAKE_TIMEOUT: Final = 60.0
"""Seconds a client has to finish the TLS handshake (nginx counts it in client_header_timeout,
60 s by default)."""


class ProxyServer:
    """The data plane of one process."""

    def __init__(
        self,
        holder: SnapshotHolder,
        *,
        observers: Sequence[Callable[[Exchange], None]] = (),
        early_error: Callable[[int, str], None] = lambda status, client: None,
        connections_changed: Callable[[int], None] = lambda count: None,
        fallback_certificate: KeyPair | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.holder = holder
        self.pool = UpstreamPool(self.loop)
        self.chooser = EndpointChooser()
        self.limiter = RateLimiter()
        self.mirrors = Mirrors(self.loop)
        self.passwords = PasswordChecker()
        self.authenticator = ExternalAuthenticator()
        self.tls = TlsTerminator(fallback_certificate)
        self.tunnels = Tunnels()
        self.pod_contexts = PodContexts()
        self.connections: set[DownstreamProtocol] = set()
        self.tasks: dict[Exchange, asyncio.Task[None] | None] = {}
        self._corked: list[DownstreamProtocol] = []
        self._starting: list[Exchange] = []
        self._ending: list[Exchange] = []
        self._holding = False
        self._held: list[UpstreamConnection] = []
        """Exchanges being served, with the task that serves the rest of each (None while
        one is served in callbacks: `Exchange.start`)."""
        self.draining = False
        self._observers = tuple(observers)
        """What records a finished exchange (the metrics, the access log), called in turn."""
        self._early_error = early_error
        self._connections_changed = connections_changed
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.TimerHandle | None = None
        holder.on_swap(self.chooser.prune)
        holder.on_swap(self.limiter.prune)
        holder.on_swap(self.tls.update)
        holder.on_swap(self._keep_pod_contexts)

    def _keep_pod_contexts(self, snapshot: Snapshot) -> None:
        """Drop the pod-TLS contexts no route of the new snapshot uses."""
        self.pod_contexts.keep(
            {r.pod_tls.key for r in snapshot.table.routes if r.pod_tls is not None}
        )

    async def listen(
        self, host: str, port: int, *, tls: bool = False, sock: socket.socket | None = None
    ) -> int:
        """Accept HTTP (HTTPS when `tls`) on host:port, or on the listening socket `sock` a
        supervisor made; returns the bound port (for port 0)."""
        scheme = "https" if tls else "http"
        context = self.tls.listener_context if tls else None
        handshake_timeout = TLS_HANDSHAKE_TIMEOUT if tls else None
        if sock is not None:
            server = await self.loop.create_server(
                lambda: DownstreamProtocol(self, scheme),
                sock=sock,
                backlog=BACKLOG,
                ssl=context,
                ssl_handshake_timeout=handshake_timeout,
            )
        else:
            server = await self.loop.create_server(
                lambda: DownstreamProtocol(self, scheme),
                host or None,
                port,
                backlog=BACKLOG,
                ssl=context,
                ssl_handshake_timeout=handshake_timeout,
            )
        self._servers.append(server)
        self._schedule_sweep()
        # Read untyped: typeshed says tuple, uvloop returns a list, and compiled code (mypyc)
        # checks declared types at run time.
        sockets: Any = getattr(server, "sockets")  # noqa: B009
        return int(sockets[0].getsockname()[1])

    # --- called by connections ---------------------------------------------------------------
    def connection_opened(self, conn: DownstreamProtocol) -> None:
        """Register a client connection."""
        self.connections.add(conn)
        self._connections_changed(1)

    def connection_closed(self, conn: DownstreamProtocol) -> None:
        """Forget a client connection."""
        if conn in self.connections:
            self.connections.discard(conn)
            self._connections_changed(-1)

    def start(self, exchange: Exchange) -> None:
        """Serve an exchange from the loop's next turn, with the others that became ready in
        this one (`_start_all`); it reports back through `exchange_finished`, and takes itself
        out of `tasks` as it ends."""
        self.tasks[exchange] = None
        self._starting.append(exchange)
        if len(self._starting) == 1:
            self.loop.call_soon(self._start_all)

    def _start_all(self) -> None:
        """Start the exchanges of a turn together, their requests sent to the pods after the
        last one started, back to back (`hold_send`)."""
        starting, self._starting = self._starting, []
        self._holding = True
        try:
            for exchange in starting:
                try:
                    exchange.start()
                except Exception:  # as the loop does for a callback of its own
                    logger.exception("starting a request failed")
        finally:
            self._holding = False
            held, self._held = self._held, []
            for conn in held:
                try:
                    conn.send_held()
                except Exception:  # as the loop does for a callback of its own
                    logger.exception("sending a request failed")

    def hold_send(self, conn: UpstreamConnection) -> None:
        """While `_start_all` runs, have `conn` hold its request until the others are made."""
        if self._holding:
            conn.hold()
            self._held.append(conn)

    def end_soon(self, exchange: Exchange) -> None:
        """Have `exchange.inline_try_ended` run on the loop's next turn, with the others of
        this turn (one callback for them all)."""
        self._ending.append(exchange)
        if len(self._ending) == 1:
            self.loop.call_soon(self._end_all)

    def _end_all(self) -> None:
        """End the exchanges whose tries ended in the turn before, in order."""
        ending, self._ending = self._ending, []
        for exchange in ending:
            try:
                exchange.inline_try_ended()
            except Exception:  # as the loop does for a callback of its own: the rest go on
                logger.exception("ending a request failed")

    def send_soon(self, conn: DownstreamProtocol) -> None:
        """Send what `conn` holds corked together with every other connection's, once this
        turn's reads are handled (`DownstreamProtocol.cork` asks; `uncork_soon` sends a large
        response at once instead)."""
        self._corked.append(conn)
        if len(self._corked) == 1:
            self.loop.call_soon(self._send_corked)

    def _send_corked(self) -> None:
        """Send every response held in the turn before, back to back."""
        corked, self._corked = self._corked, []
        for conn in corked:
            try:
                conn.uncork()
            except Exception:  # as the loop does for a callback of its own
                logger.exception("sending a response failed")

    def cancel(self, exchange: Exchange) -> None:
        """Abandon an exchange whose client went away (or all of them, at the end of a drain)."""
        if exchange not in self.tasks:
            return
        exchange.abandon()
        task = self.tasks.pop(exchange)
        if task is not None:
            task.cancel()

    def observe(self, exchange: Exchange, now: float) -> None:
        """Record an exchange finished at the loop's time `now` (metrics, access log)."""
        exchange.duration = now - exchange.started
        try:
            for observer in self._observers:
                observer(exchange)
        except Exception:
            logger.exception("recording a request failed")

    def count_early_error(self, status: int, client: str) -> None:
        """Record an answer given before any request could be formed (a malformed head)."""
        self._early_error(status, client)

    # --- lifecycle ---------------------------------------------------------------------------
    def _schedule_sweep(self) -> None:
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(POOL_SWEEP_INTERVAL, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        snapshot = self.holder.current
        max_age = snapshot.config.upstream_keepalive_timeout if snapshot is not None else 60.0
        self.pool.expire(max_age)
        self.authenticator.pool.expire(self.loop.time())
        if self._servers:
            self._schedule_sweep()

    def stop_accepting(self) -> None:
        """Close the listening sockets; established connections carry on."""
        for server in self._servers:
            server.close()
        self._servers.clear()

    async def drain(self, timeout: float) -> None:
        """Finish in-flight requests for at most `timeout` seconds, then close everything."""
        self.draining = True
        self.stop_accepting()
        for conn in list(self.connections):
            conn.shutdown()
        deadline = self.loop.time() + timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        self.tunnels.close_all()
        for conn in list(self.connections):
            conn.abort()
        for exchange in list(self.tasks):
            self.cancel(exchange)
        self.pool.close_all()
        self.mirrors.close_all()
        self.passwords.close()
        self.authenticator.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
