"""Endpoint selection: round robin, least connections, EWMA, random and consistent hashing.

State is keyed by `BackendKey` (round-robin cursors, hash rings) or by `Endpoint` (requests in
flight, latency), so it survives snapshot swaps (DESIGN.md invariant 2); keys that leave the
route table are pruned after a swap.

* Round robin starts at a random position per backend, so that several gateway replicas (or
  workers) do not all send their first requests to the same pod.
* `least_conn` takes the endpoint with the fewest requests in flight, scanning from a random
  position so that ties spread.
* `ewma` is ingress-nginx's: two endpoints drawn at random, the one with the lower score wins,
  the score being the time-decayed average response time (10 s decay) times the requests in
  flight plus one. An endpoint without a measurement scores 0, so new pods are tried at once.
* `upstream-hash-by`: a ketama-style ring of 160 points per endpoint (MD5, four points per
  digest); a key goes to the first point at or after its own hash. A pod joining or leaving
  moves only the keys of its own points, about 1/n of them. A retry walks on along the ring.
  With subsets (`upstream-hash-by-subset`) the ring's members are ingress-nginx's groups of
  endpoints and a request takes a random endpoint of its key's group.
* `warmup` (MSE slow start): while some endpoint of a backend joined less than the window ago,
  endpoints are drawn at random weighted by age / window (at least 10 %), like Envoy's linear
  slow start; otherwise the route's algorithm applies.

Every algorithm skips the endpoints already tried for the request.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import time
from collections.abc import Callable, Container, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from gateway.proxy.variables import expand
from routing.model import BackendKey, Endpoint, Route
from routing.snapshot import Snapshot

if TYPE_CHECKING:
    from annotations.balancing import Balancing
    from gateway.proxy.request import RequestHead

T = TypeVar("T")
POINTS_PER_ENDPOINT: Final = 160
EWMA_DECAY_SECONDS: Final = 10.0


class Ring(Generic[T]):
    """A consistent-hash ring over named members (endpoints, or groups of them)."""

    __slots__ = ("_members", "_points")

    def __init__(self, members: Sequence[tuple[str, T]]) -> None:
        points: list[tuple[int, str, T]] = []
        for name, member in members:
            for group in range(POINTS_PER_ENDPOINT // 4):
                digest = hashlib.md5(f"{name}-{group}".encode(), usedforsecurity=False).digest()
                for k in range(4):
                    point = int.from_bytes(digest[4 * k : 4 * k + 4], "little")
                    points.append((point, name, member))
        points.sort(key=lambda p: (p[0], p[1]))
        self._points = [p[0] for p in points]
        self._members = [p[2] for p in points]

    def pick(self, key: str, usable: Callable[[T], bool] | None = None) -> T | None:
        """The member owning `key`, or the next usable one along the ring."""
        if not self._points:
            return None
        digest = hashlib.md5(key.encode("utf-8", "surrogateescape"), usedforsecurity=False)
        start = bisect.bisect_left(self._points, int.from_bytes(digest.digest()[:4], "little"))
        count = len(self._points)
        for step in range(count):
            member = self._members[(start + step) % count]
            if usable is None or usable(member):
                return member
        return None


def endpoint_ring(endpoints: Sequence[Endpoint]) -> Ring[Endpoint]:
    """One ring point set per endpoint, named by its address."""
    return Ring([(e.hostport, e) for e in endpoints])


def subset_ring(endpoints: Sequence[Endpoint], size: int) -> Ring[tuple[Endpoint, ...]]:
    """ingress-nginx's subsets: consecutive groups of `size` endpoints, the last one topped up
    from the start, each group a member of the ring."""
    groups = -(-len(endpoints) // size)
    padded = [*endpoints, *endpoints[: groups * size - len(endpoints)]]
    return Ring([(f"set{i}", tuple(padded[i * size : (i + 1) * size])) for i in range(groups)])


class Balancer:
    """Picks the endpoint of each try, by the route's algorithm, and keeps the state."""

    __slots__ = ("_active", "_cursors", "_latency", "_rings", "_seen", "_table", "tracks_load")

    def __init__(self) -> None:
        self._cursors: dict[BackendKey, int] = {}
        self._rings: dict[tuple[BackendKey, int], tuple[Sequence[Endpoint], Ring[Any]]] = {}
        self._active: dict[Endpoint, int] = {}
        self._latency: dict[Endpoint, tuple[float, float]] = {}
        """Endpoint → (decayed mean response time, when it was last updated)."""
        self._seen: dict[BackendKey, tuple[Sequence[Endpoint], dict[Endpoint, float]]] = {}
        """For backends of `warmup` routes: when each endpoint was first seen in the set."""
        self.tracks_load = True
        """Whether tries in flight and response times are counted: only `least_conn` and
        `ewma` read them, and counting cost a fifth of picking a pod. Set per route table
        (`prune`); on until the first one, which tells."""
        self._table: object = None

    def pick(
        self,
        key: BackendKey,
        endpoints: Sequence[Endpoint],
        tried: Container[Endpoint] = (),
        policy: Balancing | None = None,
        head: RequestHead | None = None,
        client: str = "",
    ) -> Endpoint | None:
        """The endpoint for the next try, or None when every one was tried."""
        if not endpoints:
            return None
        if policy is None:
            return self._round_robin(key, endpoints, tried)
        if policy.hash_by is not None and head is not None:
            text = expand(policy.hash_by, head, client)
            size = policy.subset_size
            if not size:
                return self.ring(key, endpoints).pick(text, lambda e: e not in tried)
            group = self.ring(key, endpoints, size).pick(
                text, lambda g: any(e not in tried for e in g)
            )
            return random.choice([e for e in group if e not in tried]) if group else None
        if policy.warmup:
            weights = self._warming(key, endpoints, policy.warmup)
            if weights is not None:
                pairs = [(e, w) for e, w in zip(endpoints, weights, strict=True) if e not in tried]
                if not pairs:
                    return None
                return random.choices([e for e, _ in pairs], [w for _, w in pairs])[0]
        algorithm = policy.algorithm
        if algorithm == "least_conn":
            return self._least_conn(endpoints, tried)
        if algorithm == "ewma":
            return self._ewma(endpoints, tried)
        if algorithm == "random":
            left = [e for e in endpoints if e not in tried]
            return random.choice(left) if left else None
        return self._round_robin(key, endpoints, tried)

    def started(self, endpoint: Endpoint) -> None:
        """A try on `endpoint` begins (requests in flight, for least_conn and ewma)."""
        if self.tracks_load:
            self._active[endpoint] = self._active.get(endpoint, 0) + 1

    def finished(self, endpoint: Endpoint, seconds: float | None) -> None:
        """The try ended; `seconds` is its response time, None when it failed."""
        if not self.tracks_load:
            return
        active = self._active.get(endpoint, 0) - 1
        if active > 0:
            self._active[endpoint] = active
        else:
            self._active.pop(endpoint, None)
        if seconds is None:
            return
        now = time.monotonic()
        mean, updated = self._latency.get(endpoint, (seconds, now))
        weight = math.exp(-(now - updated) / EWMA_DECAY_SECONDS)
        self._latency[endpoint] = (mean * weight + seconds * (1.0 - weight), now)

    def _warming(
        self, key: BackendKey, endpoints: Sequence[Endpoint], window: float
    ) -> list[float] | None:
        """Slow-start weights while some endpoint is younger than `window`, else None. The
        endpoints present when the backend is first looked at all count as equally old."""
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is None:
            first = dict.fromkeys(endpoints, -math.inf)
            self._seen[key] = (endpoints, first)
        elif seen[0] is not endpoints:
            first = {e: seen[1].get(e, now) for e in endpoints}
            self._seen[key] = (endpoints, first)
        else:
            first = seen[1]
        weights = [max(0.1, min(1.0, (now - first[e]) / window)) for e in endpoints]
        return weights if min(weights) < 1.0 and max(weights) > min(weights) else None

    def _round_robin(
        self, key: BackendKey, endpoints: Sequence[Endpoint], tried: Container[Endpoint]
    ) -> Endpoint | None:
        count = len(endpoints)
        cursor = self._cursors.get(key)
        cursor = random.randrange(count) if cursor is None else cursor + 1
        for step in range(count):
            endpoint = endpoints[(cursor + step) % count]
            if endpoint not in tried:
                self._cursors[key] = cursor + step
                return endpoint
        return None

    def _least_conn(
        self, endpoints: Sequence[Endpoint], tried: Container[Endpoint]
    ) -> Endpoint | None:
        count = len(endpoints)
        start = random.randrange(count)
        best: Endpoint | None = None
        best_active = 0
        for step in range(count):
            endpoint = endpoints[(start + step) % count]
            if endpoint in tried:
                continue
            active = self._active.get(endpoint, 0)
            if best is None or active < best_active:
                best, best_active = endpoint, active
        return best

    def _score(self, endpoint: Endpoint) -> float:
        mean = self._latency.get(endpoint, (0.0, 0.0))[0]
        return mean * (self._active.get(endpoint, 0) + 1)

    def _ewma(self, endpoints: Sequence[Endpoint], tried: Container[Endpoint]) -> Endpoint | None:
        left = [e for e in endpoints if e not in tried]
        if len(left) < 2:
            return left[0] if left else None
        first, second = random.sample(left, 2)
        return first if self._score(first) <= self._score(second) else second

    def ring(self, key: BackendKey, endpoints: Sequence[Endpoint], subset: int = 0) -> Ring[Any]:
        """The backend's ring (of endpoints, or of groups of `subset`), rebuilt only when its
        endpoint set changed; sticky sessions share it."""
        cached = self._rings.get((key, subset))
        if cached is not None and (cached[0] is endpoints or cached[0] == endpoints):
            return cached[1]
        ring = subset_ring(endpoints, subset) if subset else endpoint_ring(endpoints)
        self._rings[(key, subset)] = (endpoints, ring)
        return ring

    def prune(self, snapshot: Snapshot) -> None:
        """Forget backends and endpoints the new snapshot no longer has."""
        if snapshot.table is not self._table:  # endpoint changes keep the route table
            self._table = snapshot.table
            self.tracks_load = _balances_by_load(snapshot.table.routes)
            if not self.tracks_load:
                self._active.clear()
                self._latency.clear()
        live = snapshot.endpoints
        for key in [k for k in self._cursors if k not in live]:
            del self._cursors[key]
        for ring_key in [k for k in self._rings if k[0] not in live]:
            del self._rings[ring_key]
        for key in [k for k in self._seen if k not in live]:
            del self._seen[key]
        if self._latency:
            present = {e for endpoints in live.values() for e in endpoints}
            for endpoint in [e for e in self._latency if e not in present]:
                del self._latency[endpoint]


_BY_LOAD: Final = frozenset({"least_conn", "ewma"})


def _balances_by_load(routes: Sequence[Route]) -> bool:
    """Whether a route or one of its canaries is balanced by `least_conn` or `ewma`."""
    for route in routes:
        if route.balancing is not None and route.balancing.algorithm in _BY_LOAD:
            return True
        for canary in route.canaries:
            if canary.balancing is not None and canary.balancing.algorithm in _BY_LOAD:
                return True
    return False
