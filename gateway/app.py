"""`gateway run`: wires the control plane, the data plane and the admin server, and runs them.

With `--workers 1` everything runs in this process. With more, this process is the supervisor:
it runs the control plane and the admin server, and `gateway.workers.WorkerPool` runs the data
plane in worker processes, shipping each snapshot to them.

Lifecycle: listen at once (one process answers 503 until a snapshot is live; workers leave
connections queued until they have one); read the sources; swap the first snapshot, which makes
`/readyz` succeed. On SIGTERM or SIGINT: `/readyz` fails at once,
the proxy keeps serving for `shutdown_delay`, stops accepting, lets in-flight requests finish for
up to `shutdown_timeout` (responses carry `Connection: close`, idle connections close), then the
process exits 0 (every worker does the same). A second signal exits at once with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from aiohttp import web

from gateway import compiled, heap
from gateway.admin import admin_app
from gateway.control.reconciler import Reconciler
from gateway.control.store import Store
from gateway.control.watch import ApiError
from gateway.control.watcher import ManifestWatcher
from gateway.dataplane import DataPlane
from gateway.metrics import Metrics, TrafficMetrics
from gateway.proxy.server import ProxyServer
from gateway.settings import RunSettings
from gateway.snapshot import SnapshotHolder
from gateway.workers.supervisor import WorkerPool
from routing.compile import CompileSettings
from routing.model import RouteTable
from routing.snapshot import Snapshot

if TYPE_CHECKING:
    # Cluster mode only: kubernetes-asyncio and its thousands of generated models cost about
    # 37 MiB of RSS (measured), so they are imported when the API source is actually used.
    from gateway.control.apisource import ApiSource
    from gateway.control.events import EventRecorder
    from gateway.control.leader import LeaderElector
    from gateway.control.status import StatusWriter

logger = logging.getLogger("gateway")


class Gateway:
    """The gateway: holder, control plane, admin server, and the data plane in this process
    (`plane`) or in worker processes (`workers`)."""

    def __init__(self, settings: RunSettings, access_stream: BinaryIO | None = None) -> None:
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.holder = SnapshotHolder()
        self.metrics = Metrics()
        self.plane: DataPlane | None = None
        self.workers: WorkerPool | None = None
        self._settled: RouteTable | None = None
        """The route table at this process's last `heap.settle` (one process only: with
        workers, the supervisor and each worker settle when they have shipped or applied it)."""
        if settings.workers == 1:
            self.plane = DataPlane(
                self.holder,
                TrafficMetrics(self.metrics.registry),
                access_stream or sys.stdout.buffer,
            )
        else:
            self.workers = WorkerPool(settings, self.holder, self.metrics)
        self.store = Store()
        compile_settings = CompileSettings(
            classes=settings.classes,
            configmap=settings.configmap,
            own_namespace=settings.own_namespace,
            default_certificate=settings.default_ssl_certificate,
        )
        self.reconciler = Reconciler(
            self.store,
            self.holder,
            compile_settings,
            on_swap=self._swapped,
            on_failure=self.metrics.reload_failed,
        )
        self.source: ManifestWatcher | ApiSource
        if settings.manifests is not None:
            self.source = ManifestWatcher([settings.manifests], self.store, self.reconciler.changed)
        else:
            from gateway.control.apisource import ApiSource

            self.source = ApiSource(
                self.store,
                self.reconciler.changed,
                kubeconfig=settings.kubeconfig,
                namespace=settings.watch_namespace,
                compile_settings=compile_settings,
            )
        self.reconciler.wait_for = self.source.synced
        if not isinstance(self.source, ManifestWatcher):
            source = self.source
            self.metrics.watch_source(lambda: source.connected)
        self.draining = False
        self.events: EventRecorder | None = None
        self.elector: LeaderElector | None = None
        self.status: StatusWriter | None = None
        self._leader_tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.ports: dict[str, int] = {}

    @property
    def proxy(self) -> ProxyServer:
        """The proxy of this process (`--workers 1` only)."""
        assert self.plane is not None, "the proxy runs in worker processes"
        return self.plane.proxy

    def ready(self) -> bool:
        """Ready once a snapshot is live (and a worker serves it), until shutdown starts."""
        if self.holder.current is None or self.draining:
            return False
        return self.workers is None or self.workers.serving()

    def _swapped(self, snapshot: Snapshot, seconds: float) -> None:
        self.metrics.swapped(snapshot, seconds, time.time())
        if self.plane is not None and snapshot.table is not self._settled:
            # A new route table is long-lived: keep later collections off it, as workers do.
            # An endpoint-only swap reuses the table and does not settle.
            self._settled = snapshot.table
            heap.settle()
        if self.status is not None:
            self.status.served(snapshot.table.ingresses)
        if self.events is not None and self.elector is not None and self.elector.leading:
            self.events.problems_changed(snapshot.problems)

    def _leadership_changed(self, leading: bool) -> None:
        """A new leader reports the live problems and syncs status at once."""
        self.metrics.leader.set(1 if leading else 0)
        snapshot = self.holder.current
        if leading and snapshot is not None and self.events is not None:
            self.events.problems_changed(snapshot.problems)
        if leading and self.status is not None:
            self.status.wake.set()

    async def start(self) -> None:
        """Bind every port and start the control-plane tasks."""
        if not isinstance(self.source, ManifestWatcher):
            await self.source.prepare()  # a bad client configuration fails before we listen
            self._start_leader_duties(self.source)
        host, port = self.settings.listen
        tls_host, tls_port = self.settings.listen_tls
        if self.plane is not None:
            self.ports["http"] = await self.plane.proxy.listen(host, port)
            self.ports["https"] = await self.plane.proxy.listen(tls_host, tls_port, tls=True)
            before_scrape = None
        else:
            assert self.workers is not None
            self.ports.update(await self.workers.start())
            before_scrape = self.workers.refresh_reports
        self._runner = web.AppRunner(
            admin_app(self.holder, self.metrics, self.ready, before_scrape), access_log=None
        )
        await self._runner.setup()
        admin_host, admin_port = self.settings.admin
        site = web.TCPSite(self._runner, admin_host or None, admin_port)
        await site.start()
        self.ports["admin"] = self._runner.addresses[0][1]
        self._tasks = [
            self.loop.create_task(self.source.run()),
            self.loop.create_task(self.reconciler.run()),
        ]
        hot_path = compiled.modules()
        logger.info(
            "serving HTTP on %s:%d, HTTPS on %s:%d, admin on %s:%d (hot path %s)",
            host or "*",
            self.ports["http"],
            tls_host or "*",
            self.ports["https"],
            admin_host or "*",
            self.ports["admin"],
            f"compiled: {len(hot_path)} modules" if hot_path else "interpreted",
        )

    def _start_leader_duties(self, source: ApiSource) -> None:
        """Leader election, and what only the leader does: Events and Ingress status."""
        from gateway.control.events import EventRecorder
        from gateway.control.kube import instance_name
        from gateway.control.leader import LeaderElector
        from gateway.control.status import StatusWriter, parse_addresses

        settings = self.settings
        self.events = EventRecorder(source.api, self.store.uid_of, self.metrics.event_sent)
        namespace, name = settings.election
        self.elector = LeaderElector(
            source.api,
            namespace=namespace,
            name=name,
            identity=instance_name(),
            lease_seconds=settings.election_ttl,
            on_change=self._leadership_changed,
        )
        self._leader_tasks.append(self.loop.create_task(self.elector.run()))
        addresses = parse_addresses(settings.publish_status_address.split(","))
        if addresses or settings.publish_service is not None:
            elector = self.elector
            self.status = StatusWriter(
                source.api,
                source.sink.statuses,
                publish_service=settings.publish_service,
                publish_addresses=addresses,
                leading=lambda: elector.leading,
            )
            self._leader_tasks.append(self.loop.create_task(self.status.run()))

    async def stop(self) -> None:
        """Graceful shutdown, in the order the module docstring gives."""
        # A draining replica gives up the Lease first, so another takes over status at once.
        for task in reversed(self._leader_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.draining = True
        if self.plane is not None:
            await self.plane.drain(self.settings.shutdown_delay, self.settings.shutdown_timeout)
        elif self.workers is not None:
            await self.workers.drain()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
        logger.info("stopped")


async def serve(settings: RunSettings, on_started: Callable[[Gateway], None] | None = None) -> int:
    """Run until a signal; the exit status."""
    gateway = Gateway(settings)
    await gateway.start()
    if on_started is not None:
        on_started(gateway)
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.warning("second %s: exiting at once", signal.Signals(signum).name)
            if gateway.plane is not None:
                gateway.plane.access_log.flush()
            if gateway.workers is not None:
                gateway.workers.kill()
            os._exit(1)
        logger.info("%s received", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        gateway.loop.add_signal_handler(signum, on_signal, signum)
    await stop.wait()
    await gateway.stop()
    return 0


def run(settings: RunSettings) -> int:
    """Set up logging and the uvloop event loop, then serve."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    import uvloop

    try:
        return uvloop.run(serve(settings))
    except ApiError as err:
        sys.stderr.write(f"gateway run: error: {err}\n")
        return 2
