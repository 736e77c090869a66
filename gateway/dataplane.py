"""The data plane of one process: the proxy with what records its traffic.

With `--workers 1` the gateway process runs one `DataPlane` next to its control plane; with
more, each worker process runs one and the supervisor runs none (`gateway.workers`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, BinaryIO

from gateway.accesslog import AccessLog
from gateway.metrics import TrafficMetrics
from gateway.proxy.server import ProxyServer
from gateway.snapshot import SnapshotHolder
from routing.globals import GlobalConfig

if TYPE_CHECKING:
    from routing.certificates import KeyPair

logger = logging.getLogger("gateway")


class DataPlane:
    """A `ProxyServer` wired to traffic metrics and the access log."""

    def __init__(
        self,
        holder: SnapshotHolder,
        metrics: TrafficMetrics,
        access_stream: BinaryIO,
        *,
        fallback_certificate: KeyPair | None = None,
        shared_stream: bool = False,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.holder = holder
        self.metrics = metrics
        self.access_log = AccessLog(access_stream, self.loop, shared=shared_stream)
        self.proxy = ProxyServer(
            holder,
            observers=(metrics.observe, self.access_log.write),
            early_error=self._early_error,
            connections_changed=metrics.connection_change,
            fallback_certificate=fallback_certificate,
        )
        metrics.watch(self.proxy)

    def _early_error(self, status: int, client: str) -> None:
        self.metrics.early_error(status)
        if not self._config().disable_access_log:
            self.access_log.write_early(status, client)

    def _config(self) -> GlobalConfig:
        snapshot = self.holder.current
        return snapshot.config if snapshot is not None else GlobalConfig()

    async def drain(self, delay: float, timeout: float) -> None:
        """Graceful shutdown: every response says `Connection: close` from now on; keep
        accepting for `delay` (load balancers are still sending), then stop accepting and let
        in-flight requests finish for up to `timeout`."""
        self.proxy.draining = True
        logger.info("shutting down: readiness off, serving for %.1fs more", delay)
        await asyncio.sleep(delay)
        logger.info(
            "closing the listener; waiting up to %.0fs for %d connections",
            timeout,
            len(self.proxy.connections),
        )
        await self.proxy.drain(timeout)
        self.access_log.flush()
