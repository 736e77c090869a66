"""A worker process: one data plane, fed by the supervisor (`python -m gateway.workers.worker FD`).

The worker runs no control plane. It reads `Start` from the channel whose descriptor it was
given; once it serves a snapshot (the one that came with `Start`, else the first to arrive) it
accepts on the listening sockets the supervisor passed and says `Serving`. It applies each
snapshot or endpoint update in order and answers `Applied`; it sends its traffic metrics every
`REPORT_INTERVAL` seconds and when asked.

Stopping: `Drain` from the supervisor, or a SIGTERM of its own, runs the same graceful shutdown
as one process (`DataPlane.drain`), after telling the supervisor it is `Leaving`. A second
SIGTERM exits at once. SIGINT is ignored: a terminal sends it to the whole process group, and
the supervisor decides. When the channel closes, the supervisor is gone: the worker stops
accepting at once, gives in-flight requests up to `ORPHAN_TIMEOUT` seconds and exits, so that
no worker outlives its supervisor. It stops the same way, and exits with status 1, when the
task that reads the channel or the one that sends reports fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys

from gateway import heap
from gateway.dataplane import DataPlane
from gateway.metrics import TrafficMetrics
from gateway.snapshot import SnapshotHolder
from gateway.workers.channel import Channel
from gateway.workers.messages import (
    Applied,
    Drain,
    EndpointUpdate,
    FullSnapshot,
    Leaving,
    Report,
    ReportRequest,
    Serving,
    Start,
)
from gateway.workers.reports import families
from routing.delta import EndpointDelta, apply_delta
from routing.snapshot import Snapshot

logger = logging.getLogger("gateway")

REPORT_INTERVAL = 1.0
"""Seconds between unasked metric reports: what a killed worker's counters can lose."""
ORPHAN_TIMEOUT = 10.0
"""Seconds in-flight requests get when the supervisor has died."""


class Worker:
    """The data plane of one worker process and its side of the channel."""

    def __init__(self, channel: Channel, start: Start) -> None:
        self.channel = channel
        self.start = start
        self.loop = asyncio.get_running_loop()
        self.holder = SnapshotHolder()
        self.plane = DataPlane(
            self.holder,
            TrafficMetrics(),
            sys.stdout.buffer,
            fallback_certificate=start.fallback_certificate,
            shared_stream=True,
        )
        self.generation = 0
        self.accepting = False
        self.orphaned = False
        self.failed = False
        self.stopping: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    async def run(self) -> int:
        """Serve until drained; the exit status."""
        self.loop.add_signal_handler(signal.SIGTERM, self._sigterm)
        if self.start.snapshot is not None:
            with heap.paused():
                await self._apply(self.start.snapshot)
            heap.settle()
        self._report(0)
        tasks = [
            self.loop.create_task(self._listen(), name="channel"),
            self.loop.create_task(self._reports(), name="reports"),
        ]
        for task in tasks:
            task.add_done_callback(self._check_task)
        await self.stopped.wait()
        for task in tasks:
            task.cancel()
        return 1 if self.failed else 0

    def _check_task(self, task: asyncio.Task[None]) -> None:
        """Stop when a task that must run until the end fails: a worker that no longer hears
        the supervisor would serve stale routes unnoticed, and would outlive it. Exiting
        non-zero lets the supervisor start a fresh worker from the current snapshot."""
        if task.cancelled() or task.exception() is None:
            return
        logger.error("the %s task failed: stopping", task.get_name(), exc_info=task.exception())
        self.failed = True
        if self.stopping is None:
            self._stop(0.0, min(ORPHAN_TIMEOUT, self.start.shutdown_timeout))

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.channel.receive()
            except EOFError:
                self.orphaned = True
                if self.stopping is None:
                    logger.warning("the supervisor has gone: stopping")
                    self._stop(0.0, min(ORPHAN_TIMEOUT, self.start.shutdown_timeout))
                return
            if isinstance(message, FullSnapshot | EndpointUpdate):
                with heap.paused():  # what falls due runs once the supervisor knows
                    await self._apply(message)
                    self.channel.send(Applied(self.generation))
                if isinstance(message, FullSnapshot):
                    heap.settle()
            elif isinstance(message, ReportRequest):
                self._report(message.number)
            elif isinstance(message, Drain) and self.stopping is None:
                self._stop(self.start.shutdown_delay, self.start.shutdown_timeout)

    async def _accept(self) -> None:
        """Start accepting on the slot's sockets (the supervisor keeps them open and queues
        connections on them until then)."""
        self.accepting = True
        for fds, tls in ((self.start.http_fds, False), (self.start.https_fds, True)):
            for fd in fds:
                await self.plane.proxy.listen("", 0, tls=tls, sock=socket.socket(fileno=fd))
        self.channel.send(Serving(os.getpid(), self.generation))

    async def _apply(self, message: FullSnapshot | EndpointUpdate) -> None:
        if isinstance(message, FullSnapshot):
            snapshot = await asyncio.to_thread(message.payload.load)
            assert isinstance(snapshot, Snapshot)
        else:
            current = self.holder.current
            assert current is not None, "an endpoint update before any snapshot"
            delta = message.payload.load()
            assert isinstance(delta, EndpointDelta)
            snapshot = apply_delta(current, delta)
        self.holder.swap(snapshot)
        self.generation = message.generation
        if not self.accepting and self.stopping is None:
            await self._accept()

    def _report(self, number: int) -> None:
        if not self.orphaned:
            self.channel.send(Report(number, families(self.plane.metrics.registry)))

    async def _reports(self) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            self._report(0)

    def _sigterm(self) -> None:
        if self.stopping is not None:
            logger.warning("second SIGTERM: exiting at once")
            self.plane.access_log.flush()
            os._exit(1)
        self._stop(self.start.shutdown_delay, self.start.shutdown_timeout)

    def _stop(self, delay: float, timeout: float) -> None:
        if not self.orphaned:
            self.channel.send(Leaving())
        self.stopping = self.loop.create_task(self._drain(delay, timeout))

    async def _drain(self, delay: float, timeout: float) -> None:
        await self.plane.drain(delay, timeout)
        self._report(0)  # the final counts, kept by the supervisor after this process exits
        if not self.orphaned:
            with contextlib.suppress(ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.channel.drain()
        self.stopped.set()


async def serve_worker(channel_fd: int) -> int:
    """Run one worker on the channel the supervisor passed as `channel_fd`."""
    channel = await Channel.open(socket.socket(fileno=channel_fd))
    start = await channel.receive()
    assert isinstance(start, Start)
    logging.basicConfig(
        level=start.log_level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s %(name)s [worker {start.slot}]: %(message)s",
    )
    return await Worker(channel, start).run()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import uvloop

    sys.exit(uvloop.run(serve_worker(int(sys.argv[1]))))


if __name__ == "__main__":
    main()
