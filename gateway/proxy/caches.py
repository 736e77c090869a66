"""Caches on the hot path that must stay bounded: most are keyed by what peers send (header
names, hosts), the others by what the route table holds (retry conditions, what served a
request)."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, limit: int) -> None:
    """Add to a bounded cache: emptied when full, it refills with what is still in use (an
    LRU's bookkeeping would cost more than it saves on the hot path)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


class PerTarget(Generic[V]):
    """Values made from the route or backend that served a request (its labels, what the
    metrics count for them), found by the target's identity: reading its names and hashing
    them for every request costs more. It holds the targets of one snapshot, so it is bounded
    by the route table, and each entry keeps its target alive, so an `id` is never reused
    while it is a key."""

    __slots__ = ("_entries", "_snapshot")

    def __init__(self) -> None:
        self._snapshot: object = None
        self._entries: dict[int, tuple[object, V]] = {}

    def get(self, snapshot: object, target: object) -> V | None:
        """The value for `target` of `snapshot`, None when it has yet to be made (`add`)."""
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._entries.clear()
        found = self._entries.get(id(target))
        if found is not None and found[0] is target:
            return found[1]
        return None

    def add(self, target: object, value: V) -> V:
        """Keep `value` for `target` (of the snapshot of the last `get`) and return it."""
        self._entries[id(target)] = (target, value)
        return value
