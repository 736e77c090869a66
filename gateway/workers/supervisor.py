"""The supervisor's side of `--workers N`: listening sockets, worker processes, shipping.

Theory of operation
-------------------
Sockets. For each worker slot the supervisor opens its own listening socket on every
address, with SO_REUSEPORT, so the kernel spreads new connections over the slots by a hash of
their addresses, as nginx's `reuseport` does. The supervisor keeps its copy of every socket
and hands each worker the sockets of its slot. A socket therefore lives as long as the
supervisor: when a worker dies, the connections the kernel has queued on its slot wait there for
the replacement instead of being reset, which is what closing a SO_REUSEPORT socket does.

Snapshots. Each swap in the supervisor's holder wakes one shipping task, which sends the live
snapshot to every worker that does not have it yet: the changed endpoint sets when only
endpoints changed (`routing.delta`), otherwise the whole snapshot, pickled once in a thread.
Messages on a channel arrive in order, so a worker always holds the base of the next delta. A
worker answers `Applied`; when every worker has, the change is live, and the time since the
swap is recorded. A worker accepts only once it serves a snapshot: a new one gets the live
snapshot in its `Start`. Before the first snapshot, connections wait in the sockets' queues
(one process accepts them and answers 503 instead).

Workers that exit. A worker that is told to drain, or gets a SIGTERM of its own, says `Leaving`
and is replaced at once while it finishes its requests on its own. A worker that exits without
that is restarted, after a growing pause when it keeps dying young. Its last counters stay in
the merged metrics (`gateway.workers.reports`). When the supervisor dies, its end of every
channel closes, and workers that see that stop (`gateway.workers.worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace

from gateway import heap
from gateway.metrics import Metrics, WorkerMetrics
from gateway.proxy.server import BACKLOG
from gateway.proxy.tls import self_signed
from gateway.settings import RunSettings
from gateway.snapshot import SnapshotHolder
from gateway.workers.channel import Channel, Payload
from gateway.workers.messages import (
    Applied,
    Drain,
    EndpointUpdate,
    Family,
    FullSnapshot,
    Leaving,
    Report,
    ReportRequest,
    Serving,
    Start,
)
from gateway.workers.reports import MergedTraffic
from routing.delta import endpoint_delta
from routing.snapshot import Snapshot

logger = logging.getLogger(__name__)

REPORT_TIMEOUT = 1.0
"""Seconds a scrape waits for fresh figures from the workers (older ones are used after)."""
YOUNG = 5.0
"""A worker that dies younger than this many seconds is restarted after a growing pause."""
MAX_PAUSE = 30.0
KILL_GRACE = 5.0
"""Seconds past a drain's delay and timeout after which a worker still running is killed."""


@dataclass(eq=False)
class _Worker:
    """One worker process as the supervisor sees it."""

    slot: int
    process: asyncio.subprocess.Process
    channel: Channel
    started: float
    base: Snapshot | None
    """The last snapshot sent to it."""
    applied: int = 0
    """The generation it serves."""
    serving: bool = False
    report: tuple[Family, ...] = ()
    waiting: dict[int, asyncio.Future[None]] = field(default_factory=dict)


@dataclass
class Shipment:
    """How one snapshot reached the workers."""

    generation: int
    swapped: float
    """`time.perf_counter()` at the swap in the supervisor."""
    shipped: str = ""
    """"full" or "endpoints"."""
    size: int = 0
    """Bytes of the message one worker got (the largest, when they differed)."""
    seconds: float | None = None
    """From the swap until every worker serves it; None until then."""
    live: asyncio.Event = field(default_factory=asyncio.Event)


def listening_sockets(host: str, port: int, slots: int) -> tuple[int, list[list[socket.socket]]]:
    """`slots` sets of SO_REUSEPORT sockets listening on every address of host:port (all
    interfaces when host is empty); the port (chosen by the kernel for port 0)."""
    per_slot: list[list[socket.socket]] = [[] for _ in range(slots)]
    seen: set[tuple[int, str]] = set()
    for family, kind, proto, _, address in socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        if (family, str(address[0])) in seen:
            continue
        seen.add((family, str(address[0])))
        for sockets in per_slot:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], port, *address[2:]))
                sock.listen(BACKLOG)
            except OSError:
                sock.close()
                raise
            port = int(sock.getsockname()[1])
            sockets.append(sock)
    return port, per_slot


class WorkerPool:
    """N worker processes serving the supervisor's snapshots."""

    def __init__(self, settings: RunSettings, holder: SnapshotHolder, metrics: Metrics) -> None:
        self.settings = settings
        self.holder = holder
        self.count = settings.workers
        self.loop = asyncio.get_running_loop()
        self.metrics = WorkerMetrics(metrics.registry)
        self.merged = MergedTraffic(lambda: [w.report for w in self._workers])
        metrics.registry.register(self.merged)
        self._fallback = self_signed()
        self._http: list[list[socket.socket]] = []
        self._https: list[list[socket.socket]] = []
        self._workers: list[_Worker] = []
        """Every worker process alive, leaving ones included."""
        self._slots: dict[int, _Worker] = {}
        """The worker that accepts for each slot (not the leaving ones)."""
        self._deaths: dict[int, int] = {}
        """Young deaths in a row, per slot."""
        self._full: tuple[str, Payload] | None = None
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests = 0
        self.shipments: dict[int, Shipment] = {}
        self.stopping = False
        holder.on_swap(self._swapped)

    # --- starting ----------------------------------------------------------------------------
    async def start(self) -> dict[str, int]:
        """Open the sockets and start every worker; the ports bound."""
        host, port = self.settings.listen
        http_port, self._http = listening_sockets(host, port, self.count)
        tls_host, tls_port = self.settings.listen_tls
        https_port, self._https = listening_sockets(tls_host, tls_port, self.count)
        for slot in range(self.count):
            await self._spawn(slot)
        self._run(self._ship_forever())
        logger.info("started %d workers", self.count)
        return {"http": http_port, "https": https_port}

    def _run(self, coroutine: Coroutine[None, None, None]) -> None:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spawn(self, slot: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        http = tuple(s.fileno() for s in self._http[slot])
        https = tuple(s.fileno() for s in self._https[slot])
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway.workers.worker",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(), *http, *https),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        channel = await Channel.open(ours)
        snapshot, generation = self.holder.current, self.holder.generation
        first = None
        if snapshot is not None:
            first = FullSnapshot(generation, await self._payload(snapshot))
        # A swap during the pickling is shipped to this worker by the shipping task.
        worker = _Worker(slot, process, channel, self.loop.time(), snapshot)
        channel.send(
            Start(
                slot,
                http,
                https,
                self._fallback,
                self.settings.shutdown_delay,
                self.settings.shutdown_timeout,
                self.settings.log_level,
                first,
            )
        )
        self._workers.append(worker)
        self._slots[slot] = worker
        if self.stopping:  # a restart that raced with shutdown
            channel.send(Drain())
        if worker.base is not self.holder.current:
            self._wake.set()
        self._run(self._listen(worker))
        self._run(self._watch(worker))
        logger.info("worker %d started: pid %d", slot, process.pid)

    async def _payload(self, snapshot: Snapshot) -> Payload:
        """`snapshot` pickled (in a thread: 10,000 Ingresses take most of a second), once per
        snapshot, without what only the compiler uses."""
        if self._full is not None and self._full[0] == snapshot.digest:
            return self._full[1]
        payload = await asyncio.to_thread(Payload.of, replace(snapshot, inputs=None))
        self._full = (snapshot.digest, payload)
        return payload

    # --- shipping ----------------------------------------------------------------------------
    def _swapped(self, snapshot: Snapshot) -> None:
        generation = self.holder.generation
        self.shipments[generation] = Shipment(generation, time.perf_counter())
        for old in [g for g in self.shipments if g < generation - 16]:
            self.shipments.pop(old).live.set()
        self._wake.set()

    async def _ship_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            with heap.paused():
                await self._ship()

    async def _ship(self) -> None:
        """Send the live snapshot to every worker that lacks it."""
        snapshot, generation = self.holder.current, self.holder.generation
        if snapshot is None:
            return
        shipment = self.shipments.get(generation)
        deltas: dict[str, Payload | None] = {}
        for worker in list(self._workers):
            if worker.base is snapshot:
                continue
            message: FullSnapshot | EndpointUpdate | None = None
            if worker.base is not None:
                base = worker.base.digest
                if base not in deltas:
                    delta = endpoint_delta(worker.base, snapshot)
                    deltas[base] = None if delta is None else Payload.of(delta)
                delta_payload = deltas[base]
                if delta_payload is not None:
                    message = EndpointUpdate(generation, delta_payload)
            if message is None:
                message = FullSnapshot(generation, await self._payload(snapshot))
            if worker not in self._workers:
                continue  # it exited while the snapshot was being pickled
            size = worker.channel.send(message)
            worker.base = snapshot
            self.metrics.shipped_bytes.inc(size)
            if shipment is not None:  # "full" when any worker needed the whole snapshot
                kind = "endpoints" if isinstance(message, EndpointUpdate) else "full"
                shipment.shipped = "full" if shipment.shipped == "full" else kind
                shipment.size = max(shipment.size, size)
        self._check_live()

    def _check_live(self) -> None:
        """Mark every generation that all workers now serve."""
        workers = [w for w in self._workers if w.serving or w.base is not None]
        if not workers:
            return
        served = min(w.applied for w in workers)
        now = time.perf_counter()
        full = False
        for generation, shipment in self.shipments.items():
            if generation <= served and shipment.seconds is None:
                shipment.seconds = now - shipment.swapped
                shipment.live.set()
                full = full or shipment.shipped == "full"
                if shipment.shipped:
                    self.metrics.propagation.labels(shipment.shipped).observe(shipment.seconds)
                    logger.debug(
                        "snapshot %d live in %d workers %.1f ms after its swap (%s, %d bytes)",
                        generation,
                        len(workers),
                        shipment.seconds * 1000,
                        shipment.shipped,
                        shipment.size,
                    )
        if full:
            heap.settle()  # the new table is long-lived: keep later collections off it

    async def live(self, generation: int) -> Shipment:
        """Wait until every worker serves `generation` (for tests and the benchmark)."""
        shipment = self.shipments[generation]
        await shipment.live.wait()
        return shipment

    # --- hearing from workers ----------------------------------------------------------------
    async def _listen(self, worker: _Worker) -> None:
        while True:
            try:
                message = await worker.channel.receive()
            except EOFError:
                return
            if isinstance(message, Applied):
                worker.applied = message.generation
                self._check_live()
            elif isinstance(message, Report):
                worker.report = message.families
                waiter = worker.waiting.pop(message.number, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            elif isinstance(message, Serving):
                worker.serving = True
                worker.applied = message.generation
                self._count_serving()
                self._check_live()
            elif isinstance(message, Leaving):
                self._leaving(worker)

    def _leaving(self, worker: _Worker) -> None:
        """A draining worker stops accepting soon: start its successor now."""
        if self._slots.get(worker.slot) is worker:
            del self._slots[worker.slot]
            self._count_serving()
            if not self.stopping:
                logger.info(
                    "worker %d (pid %d) is draining: replacing it", worker.slot, worker.process.pid
                )
                self.metrics.restarts.labels("drained").inc()
                self._run(self._spawn(worker.slot))

    async def _watch(self, worker: _Worker) -> None:
        code = await worker.process.wait()
        worker.channel.close()
        self._workers.remove(worker)
        self.merged.retire(worker.report)
        for waiter in worker.waiting.values():
            if not waiter.done():
                waiter.set_result(None)
        self._check_live()
        lived = self.loop.time() - worker.started
        if self._slots.get(worker.slot) is not worker:  # drained: its successor already runs
            logger.info("worker %d (pid %d) exited with %d", worker.slot, worker.process.pid, code)
            return
        del self._slots[worker.slot]
        self._count_serving()
        if self.stopping:
            return
        deaths = self._deaths[worker.slot] = (
            self._deaths.get(worker.slot, 0) + 1 if lived < YOUNG else 0
        )
        pause = min(MAX_PAUSE, 0.1 * 2**deaths) if deaths else 0.0
        logger.error(
            "worker %d (pid %d) exited with %d after %.1fs; restarting it in %.1fs",
            worker.slot,
            worker.process.pid,
            code,
            lived,
            pause,
        )
        self.metrics.restarts.labels("crashed").inc()
        await asyncio.sleep(pause)
        if not self.stopping and worker.slot not in self._slots:
            await self._spawn(worker.slot)

    def _count_serving(self) -> None:
        self.metrics.serving.set(sum(1 for w in self._slots.values() if w.serving))

    def serving(self) -> bool:
        """Whether some worker accepts connections (so serves a snapshot)."""
        return any(w.serving for w in self._slots.values())

    async def refresh_reports(self) -> None:
        """Ask every worker for its figures and wait (at most `REPORT_TIMEOUT`) for them."""
        self._requests += 1
        number = self._requests
        waits = []
        for worker in self._workers:
            if worker.serving:
                waiter = worker.waiting[number] = self.loop.create_future()
                worker.channel.send(ReportRequest(number))
                waits.append(waiter)
        if waits:
            await asyncio.wait(waits, timeout=REPORT_TIMEOUT)
        for worker in self._workers:
            worker.waiting.pop(number, None)

    # --- stopping ----------------------------------------------------------------------------
    async def drain(self) -> None:
        """Drain every worker (each keeps serving for the delay, then finishes its requests)
        and wait for them to exit; kill what is left after the deadline."""
        self.stopping = True
        for worker in self._workers:
            worker.channel.send(Drain())  # dropped for a worker that has already gone
        deadline = self.settings.shutdown_delay + self.settings.shutdown_timeout + KILL_GRACE
        processes = [w.process.wait() for w in self._workers]
        if processes:
            _, pending = await asyncio.wait(
                [asyncio.ensure_future(p) for p in processes], timeout=deadline
            )
            if pending:
                logger.error("%d workers did not stop in time: killing them", len(pending))
                self.kill()
                await asyncio.wait(pending, timeout=KILL_GRACE)
        for task in list(self._tasks):
            task.cancel()
        for sockets in (*self._http, *self._https):
            for sock in sockets:
                sock.close()

    def kill(self) -> None:
        """Kill every worker at once (a second signal)."""
        self.stopping = True
        for worker in self._workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signal.SIGKILL)
