"""The state behind `annotations.ratelimit`: who has used how much, and the decision per request.

nginx's per-client limits follow `limit_req` with `nodelay` exactly: each client address has an
*excess* that every request raises by one and time lowers at the rate; a request that would
take it above the burst is refused and changes nothing. A client seen for the first time starts
at zero, so it may send burst + 1 requests at once, as under nginx. When several rates apply,
each is checked first and all are charged only if all pass (nginx's account-last rule).

Memory is bounded whatever the clients do: each zone remembers at most `limit-zone-clients`
addresses and forgets the least recently seen first. A forgotten client starts afresh, which
is lenient, never wrong in the other direction (nginx, out of zone memory, also drops its
oldest entries). `limit-connections` counts only requests in progress, so it holds one entry
per in-flight request at most.

Higress's per-route limit is a token bucket that starts full and refills continuously at the
rate (Envoy refills it in steps, once per second or minute; the long-run rate is the same and
there is no cliff at the step).

State is keyed by Ingress (nginx zones) or by route (Higress), not by snapshot, so a reload
keeps the counts; `prune` forgets what the live snapshot no longer has.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from gateway.proxy.request import in_networks

if TYPE_CHECKING:
    from annotations.ratelimit import Rate
    from routing.globals import GlobalConfig
    from routing.model import Route
    from routing.snapshot import Snapshot

LOCAL_RATE_LIMITED: Final = ("text/plain", b"local_rate_limited")
"""Envoy's answer body for a local rate limit (Higress)."""

IngressKey = tuple[str, str]
RouteKey = tuple[str, str, int, int]
Slot = tuple[IngressKey, str]
"""A `limit-connections` slot: the Ingress and the client address holding it."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a refused request is answered with."""

    status: int
    page: tuple[str, bytes] | None = None
    """(content type, body) in place of the standard error page."""


class _ClientZone:
    """One nginx `limit_req_zone`: each client's excess and when it was last charged, least
    recently seen first."""

    __slots__ = ("clients",)

    def __init__(self) -> None:
        self.clients: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def excess_after(self, client: str, rate: Rate, now: float) -> float | None:
        """The client's excess if this request is let through, or None when it is refused."""
        state = self.clients.get(client)
        if state is None:
            return 0.0
        excess, last = state
        excess = max(0.0, excess - rate.per_second * max(0.0, now - last)) + 1.0
        return None if excess > rate.burst else excess

    def charge(self, client: str, excess: float, now: float, capacity: int) -> None:
        """Record an admitted request; forget the oldest clients beyond `capacity`."""
        clients = self.clients
        clients[client] = (excess, now)
        clients.move_to_end(client)
        while len(clients) > capacity:
            clients.popitem(last=False)


class _Bucket:
    """Higress's per-route token bucket."""

    __slots__ = ("last", "tokens")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.last = now

    def take(self, rate: Rate, now: float) -> bool:
        """Take a token if there is one."""
        self.tokens = min(float(rate.burst), self.tokens + rate.per_second * (now - self.last))
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RateLimiter:
    """Every limit's state in this process, and the counts the metrics export."""

    def __init__(self) -> None:
        self._zones: dict[tuple[IngressKey, str], _ClientZone] = {}
        self._buckets: dict[RouteKey, _Bucket] = {}
        self._in_progress: dict[IngressKey, dict[str, int]] = {}
        self.refused: dict[tuple[str, str, str], int] = {}
        """(namespace, Ingress, limit name) → requests refused, for the metrics."""

    def admit(
        self, route: Route, client: str, now: float, config: GlobalConfig
    ) -> tuple[Refusal | None, Slot | None]:
        """Decide on one request to `route` from `client`.

        Returns the refusal (None: go on) and, when the request now holds a
        `limit-connections` slot, the slot to give back to `release` when it ends.
        """
        limits = route.limits
        assert limits is not None
        ingress = (route.namespace, route.ingress)
        slot: Slot | None = None
        limited = limits.client_rates or limits.connections
        if limited and not (limits.exempt and in_networks(client, limits.exempt)):
            # nginx runs limit_req before limit_conn: a refused rate takes no slot.
            refusal = self._charge_client(ingress, limits.client_rates, client, now, config)
            if refusal is None and limits.connections:
                refusal = self._take_slot(ingress, client, limits.connections, config)
                slot = (ingress, client) if refusal is None else None
            if refusal is not None:
                return refusal, None
        refusal = self._charge_route(route, now)
        if refusal is not None and slot is not None:
            self.release(slot)
            slot = None
        return refusal, slot

    def _take_slot(
        self, ingress: IngressKey, client: str, limit: int, config: GlobalConfig
    ) -> Refusal | None:
        in_progress = self._in_progress.setdefault(ingress, {})
        held = in_progress.get(client, 0)
        if held >= limit:
            return self._refuse(ingress, "connections", config.limit_conn_status_code)
        in_progress[client] = held + 1
        return None

    def release(self, slot: Slot) -> None:
        """A request admitted under `limit-connections` has ended."""
        ingress, client = slot
        in_progress = self._in_progress.get(ingress)
        if in_progress is None:
            return
        held = in_progress.get(client, 0) - 1
        if held > 0:
            in_progress[client] = held
        else:
            in_progress.pop(client, None)
            if not in_progress:
                del self._in_progress[ingress]

    def _charge_client(
        self,
        ingress: IngressKey,
        rates: tuple[Rate, ...],
        client: str,
        now: float,
        config: GlobalConfig,
    ) -> Refusal | None:
        zones = []
        for rate in rates:
            zone = self._zones.get((ingress, rate.name))
            if zone is None:
                zone = self._zones[(ingress, rate.name)] = _ClientZone()
            excess = zone.excess_after(client, rate, now)
            if excess is None:
                return self._refuse(ingress, rate.name, config.limit_req_status_code)
            zones.append((zone, excess))
        for zone, excess in zones:
            zone.charge(client, excess, now, config.limit_zone_clients)
        return None

    def _charge_route(self, route: Route, now: float) -> Refusal | None:
        limits = route.limits
        rate = limits.route_rate if limits is not None else None
        if rate is None:
            return None
        key = (route.namespace, route.ingress, route.rule, route.index)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(rate.burst), now)
        if bucket.take(rate, now):
            return None
        return self._refuse((route.namespace, route.ingress), "route", 429, LOCAL_RATE_LIMITED)

    def _refuse(
        self, ingress: IngressKey, limit: str, status: int, page: tuple[str, bytes] | None = None
    ) -> Refusal:
        key = (*ingress, limit)
        self.refused[key] = self.refused.get(key, 0) + 1
        return Refusal(status, page)

    def clients(self) -> dict[IngressKey, int]:
        """Client addresses remembered per Ingress (the largest of its zones), for metrics."""
        out: dict[IngressKey, int] = {}
        for (ingress, _), zone in self._zones.items():
            out[ingress] = max(out.get(ingress, 0), len(zone.clients))
        return out

    def prune(self, snapshot: Snapshot) -> None:
        """Forget the zones and buckets of Ingresses and routes the snapshot no longer limits."""
        ingresses: set[IngressKey] = set()
        routes: set[RouteKey] = set()
        for route in snapshot.table.routes:
            if route.limits is not None:
                ingresses.add((route.namespace, route.ingress))
                routes.add((route.namespace, route.ingress, route.rule, route.index))
        self._zones = {k: v for k, v in self._zones.items() if k[0] in ingresses}
        self._buckets = {k: v for k, v in self._buckets.items() if k in routes}
