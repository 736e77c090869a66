"""`SnapshotHolder`: the one object the control plane and the proxy share.

The control plane calls `swap` with a new compiled `Snapshot`; the proxy reads `current` once
per request, when the request head is complete (DESIGN.md invariant 1), and keeps that object
for the whole exchange. A swap is one attribute assignment, so a request in flight never sees
half of one table and half of another, and nothing is locked.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from routing.snapshot import Snapshot


class SnapshotHolder:
    """The live snapshot, its generation and the callbacks to run after each swap."""

    __slots__ = ("_listeners", "current", "generation", "swapped_at")

    def __init__(self) -> None:
        self.current: Snapshot | None = None
        """None until the first snapshot is live: the proxy answers 503 and /readyz fails."""
        self.generation = 0
        """1 for the first snapshot, +1 on every swap (endpoint-only swaps included)."""
        self.swapped_at = 0.0
        """Unix time of the last swap."""
        self._listeners: list[Callable[[Snapshot], None]] = []

    def on_swap(self, listener: Callable[[Snapshot], None]) -> None:
        """Call `listener(new_snapshot)` after every swap (balancer pruning, metrics)."""
        self._listeners.append(listener)

    def swap(self, snapshot: Snapshot) -> None:
        """Make `snapshot` live for every request that starts from now on."""
        self.current = snapshot
        self.generation += 1
        self.swapped_at = time.time()
        for listener in self._listeners:
            listener(snapshot)
