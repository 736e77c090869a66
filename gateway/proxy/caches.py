"""Caches on the hot path that must stay bounded: most are keyed by what peers send (header
names, hosts), the others by what the route table holds (retry conditions, log targets)."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, limit: int) -> None:
    """Add to a bounded cache: emptied when full, it refills with what is still in use (an
    LRU's bookkeeping would cost more than it saves on the hot path)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
