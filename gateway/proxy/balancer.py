"""Endpoint selection. State is keyed by `BackendKey`, so it survives snapshot swaps
(DESIGN.md invariant 2); keys that leave the route table are pruned after a swap.

Round robin starts at a random position per backend, so that several gateway replicas (or
workers) do not all send their first requests to the same pod.
"""

from __future__ import annotations

import random
from collections.abc import Container, Sequence

from routing.model import BackendKey, Endpoint, Snapshot


class RoundRobin:
    """Next endpoint in turn, skipping those already tried for this request."""

    __slots__ = ("_cursors",)

    def __init__(self) -> None:
        self._cursors: dict[BackendKey, int] = {}

    def pick(
        self, key: BackendKey, endpoints: Sequence[Endpoint], tried: Container[Endpoint] = ()
    ) -> Endpoint | None:
        """The endpoint for the next try, or None when every one was tried."""
        count = len(endpoints)
        if count == 0:
            return None
        cursor = self._cursors.get(key)
        cursor = random.randrange(count) if cursor is None else cursor + 1
        for step in range(count):
            endpoint = endpoints[(cursor + step) % count]
            if endpoint not in tried:
                self._cursors[key] = cursor + step
                return endpoint
        return None

    def prune(self, snapshot: Snapshot) -> None:
        """Forget backends the new snapshot no longer has."""
        live = snapshot.endpoints
        for key in [k for k in self._cursors if k not in live]:
            del self._cursors[key]
