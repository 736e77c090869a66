"""Which endpoint a try goes to: the balancer, sticky sessions and passive health together.

The exchange asks `EndpointChooser.pick` for each try and reports back how the try went. The
order of concerns:

1. endpoints already tried for the request are never picked again;
2. ejected endpoints (`gateway.proxy.health`) are skipped while others are left;
3. a target with `affinity: cookie` follows its session (`gateway.proxy.affinity`);
4. otherwise the target's `load-balance` / `upstream-hash-by` (`gateway.proxy.balancer`).

All three keep their state per backend or per endpoint, so it survives snapshot swaps, and
each forgets what the new snapshot no longer has.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.proxy.affinity import StickySessions
from gateway.proxy.balancer import Balancer
from gateway.proxy.health import PassiveHealth
from routing.canary import choose_canary
from routing.model import CanaryBackend, Endpoint, Fallback, Route
from routing.snapshot import Snapshot

if TYPE_CHECKING:
    from annotations.affinity import AffinityCookie
    from gateway.proxy.request import RequestHead
    from routing.globals import GlobalConfig

NewSession = tuple["AffinityCookie", str]
"""A sticky session to announce: the cookie settings and the value."""


class EndpointChooser:
    """Picks the endpoint of each try and learns from the outcome."""

    __slots__ = ("balancer", "health", "sessions")

    def __init__(self) -> None:
        self.balancer = Balancer()
        self.sessions = StickySessions(self.balancer)
        self.health = PassiveHealth()

    def pick(
        self,
        target: Route | CanaryBackend | Fallback,
        endpoints: Sequence[Endpoint],
        tried: set[Endpoint],
        head: RequestHead,
        client: str,
        now: float,
    ) -> tuple[Endpoint | None, NewSession | None]:
        """The endpoint of the next try, and the sticky session to announce with `Set-Cookie`
        when one starts or moves."""
        skip = self.health.skip(endpoints, tried, now)
        if isinstance(target, Fallback):
            policy, sticky = None, None
        else:
            policy, sticky = target.balancing, target.affinity
        for excluded in (skip, tried) if skip is not tried else (tried,):
            if sticky is None:
                endpoint = self.balancer.pick(
                    target.backend, endpoints, excluded, policy, head, client
                )
                if endpoint is not None:
                    return endpoint, None
                continue
            endpoint, session = self.sessions.pick(
                sticky, target.backend, endpoints, excluded, bool(tried), policy, head, client
            )
            if endpoint is not None:
                return endpoint, (sticky, session) if session is not None else None
        return None, None

    def started(self, endpoint: Endpoint) -> None:
        """A try on `endpoint` begins."""
        self.balancer.started(endpoint)

    def finished(self, endpoint: Endpoint, seconds: float | None) -> None:
        """The try ended without failing: the response head came after `seconds`, or (None)
        it ended with nothing to learn from (the client went away, a 413 while connecting)."""
        self.balancer.finished(endpoint, seconds)
        if seconds is not None:
            self.health.succeeded(endpoint)

    def failed(
        self,
        endpoint: Endpoint,
        endpoints: Sequence[Endpoint],
        now: float,
        config: GlobalConfig,
        *,
        unhealthy: bool = True,
    ) -> None:
        """The try failed (`endpoints`: the backend's, for the ejection cap); `unhealthy`:
        whether the failure counts against the pod."""
        self.balancer.finished(endpoint, None)
        if unhealthy:
            self.health.failed(endpoint, endpoints, now, config)

    def backend_for(
        self, route: Route, snapshot: Snapshot, head: RequestHead
    ) -> tuple[Route | CanaryBackend | Fallback, tuple[Endpoint, ...]]:
        """What serves the request and its ready endpoints (none: 503).

        A canary chosen (or pinned by its session) serves when it has ready endpoints, else
        the primary does (MSE's behaviour); a route without ready endpoints hands over to its
        `default-backend` (ingress-nginx)."""
        endpoints = snapshot.endpoints.get(route.backend, ())
        if route.canaries:
            pinned = self.sessions.pinned(route, head)
            if pinned is None:
                canary = choose_canary(route.canaries, head, random.random)
            else:
                canary = pinned if isinstance(pinned, CanaryBackend) else None
            chosen = snapshot.endpoints.get(canary.backend, ()) if canary else ()
            if canary is not None and chosen:
                return canary, chosen
        if endpoints:
            return route, endpoints
        fallback = route.fallback
        standing_in = snapshot.endpoints.get(fallback.backend, ()) if fallback else ()
        if fallback is not None and standing_in:
            return fallback, standing_in
        return route, ()

    def prune(self, snapshot: Snapshot) -> None:
        """Forget backends and endpoints the new snapshot no longer has."""
        self.balancer.prune(snapshot)
        self.sessions.prune(snapshot)
        self.health.prune(snapshot)
