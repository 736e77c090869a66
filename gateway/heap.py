"""Keeping CPython's cyclic garbage collector off the shipping and serving paths.

A snapshot of 10,000 Ingresses is about 600,000 objects that the collector tracks. A full
collection walks every one of them (0.05-0.3 s a pass on this project's benchmark machine, and
the event loop stops meanwhile), and CPython runs one whenever the objects that survived into the
oldest generation have grown by a quarter: after each full snapshot, and in a worker after nearly
every cluster-wide endpoint update. Those passes find nothing: snapshots hold no reference
cycles and are freed by reference counting.

So the worker processes, after each full snapshot they apply, and the supervisor, after each
full snapshot is live everywhere, `settle()`: one full collection, then `gc.freeze()`, which
moves every object alive at that moment out of the collector's sight. Later passes only walk
what was allocated since. Frozen objects are still freed by reference counting; what freezing
can delay is cyclic garbage among them (a connection open at the freeze that later closes as a
cycle, say). The next `settle()` unfreezes and collects it, so that delay is bounded by the
objects alive at one freeze, for one snapshot period.

`paused()` holds collections off while a change is being shipped. Whatever became due runs
right after, once the workers have their bytes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    depth = 0
    """How many `paused()` blocks are open."""


def settle() -> None:
    """Collect once, then freeze everything alive so that later collections skip it."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block (nested blocks allowed). The collector is
    left alone when it was disabled by someone else to begin with."""
    if _Pauses.depth == 0 and not gc.isenabled():
        yield
        return
    _Pauses.depth += 1
    gc.disable()
    try:
        yield
    finally:
        _Pauses.depth -= 1
        if _Pauses.depth == 0:
            gc.enable()
