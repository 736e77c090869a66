"""Caches keyed by what peers send (header names, hosts): bounded whatever they send."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, limit: int) -> None:
    """Add to a cache that must stay bounded: emptied when full, it refills with what peers
    keep sending (an LRU's bookkeeping would cost more than it saves on the hot path)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
