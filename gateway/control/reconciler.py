"""The reconciler: one task that turns store changes into live snapshots.

Theory of operation (DESIGN.md invariant 3)
------------------------------------------
Sources only mark the store dirty (`changed.set()`); they never compile. The reconciler waits
for the mark, sleeps a short debounce so that a burst of events (a rollout moving 500 pods)
becomes one compile, clears the mark and compiles the *whole* store. Compiling runs in a
thread, so a large table does not stall requests on the event loop for its whole duration.

Then: compare digests (equal → nothing to do), and swap. A compile that raises leaves the
previous snapshot live, counts a failed reload, and is retried on the next change; no event is
lost, because the next compile reads the current store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gateway.control.store import Store
from gateway.snapshot import SnapshotHolder
from routing.compile import CompileSettings, compile_snapshot
from routing.snapshot import Snapshot

logger = logging.getLogger(__name__)

DEBOUNCE = 0.1
"""Seconds to wait after a change before compiling, so that bursts coalesce."""


class Reconciler:
    """Compiles the store into the holder whenever `changed` is set."""

    def __init__(
        self,
        store: Store,
        holder: SnapshotHolder,
        settings: CompileSettings,
        *,
        on_swap: Callable[[Snapshot, float], None] = lambda snapshot, seconds: None,
        on_failure: Callable[[], None] = lambda: None,
        debounce: float = DEBOUNCE,
    ) -> None:
        self.store = store
        self.holder = holder
        self.settings = settings
        self.changed = asyncio.Event()
        self.wait_for: asyncio.Event | None = None
        """When set, nothing is compiled before this event (every kind listed)."""
        self.debounce = debounce
        self._on_swap = on_swap
        self._on_failure = on_failure

    async def run(self) -> None:
        """Reconcile forever."""
        if self.wait_for is not None:
            await self.wait_for.wait()  # never compile from a half-listed cluster
        while True:
            await self.changed.wait()
            await asyncio.sleep(self.debounce)
            self.changed.clear()
            await self.reconcile()

    async def reconcile(self) -> bool:
        """Compile once and swap when the result differs; returns whether it swapped."""
        state = self.store.state()
        previous = self.holder.current
        started = time.perf_counter()
        try:
            snapshot = await asyncio.to_thread(compile_snapshot, state, self.settings, previous)
        except Exception:
            logger.exception("compiling the route table failed; the previous one stays live")
            self._on_failure()
            return False
        seconds = time.perf_counter() - started
        if previous is not None and snapshot.digest == previous.digest:
            return False
        self._log_problems(previous, snapshot)
        self.holder.swap(snapshot)
        self._on_swap(snapshot, seconds)
        logger.info(
            "snapshot %d live: %d routes, %d backends, digest %s (compiled in %.3fs)",
            self.holder.generation,
            len(snapshot.table.routes),
            len(snapshot.endpoints),
            snapshot.digest,
            seconds,
        )
        return True

    @staticmethod
    def _log_problems(previous: Snapshot | None, snapshot: Snapshot) -> None:
        known = set(previous.problems) if previous is not None else set()
        for problem in snapshot.problems:
            if problem not in known:
                level = logging.ERROR if problem.severity == "error" else logging.WARNING
                logger.log(level, "%s", problem.line())
