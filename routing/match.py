"""The matcher: from (host, path) to the route that serves it, by index rather than by scan.

Theory of operation
-------------------
Hosts. One virtual host is chosen first, as nginx chooses a `server`: the exact host name (a
dict lookup), else the wildcard whose suffix follows the request's first label (one more dict
lookup, so ``*.example.com`` covers exactly one label), else the any-host virtual host made of
rules without a host. A request never falls from a chosen host to another one.

Paths, within the chosen host (DESIGN.md invariant 6):

1. Exact paths: a dict lookup on the whole path.
2. Prefix paths except the catch-all `/`: the path is cut at each `/` from the longest candidate
   to the shortest, and each candidate is a dict lookup. This is the Ingress spec's element-wise
   rule (`/foo` matches `/foo/bar`, never `/foobar`), and the first hit is the longest match.
   Candidates deeper than the host's deepest Prefix key are skipped without a lookup.
3. Regex paths, longer pattern first (nginx's order once regex is on), first match wins.
4. The catch-all Prefix `/`.
5. The host's default backend (`spec.defaultBackend`, reference §4.4).

The cost is bounded by the depth of the request path plus the host's regex routes, never by the
number of Ingresses. `naive_match` in the tests states the same rules as a scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from routing.model import Route
from routing.paths import prefix_key


@dataclass(slots=True)
class HostRoutes:
    """The routes of one virtual host, indexed. Built once, then only read."""

    exact: dict[str, Route] = field(default_factory=dict)
    prefix: dict[str, Route] = field(default_factory=dict)
    regex: list[tuple[re.Pattern[str], Route]] = field(default_factory=list)
    catch_all: Route | None = None
    default_backend: Route | None = None
    prefix_depth: int = 0
    """Segments in the deepest Prefix key: deeper parts of a request path cannot match."""

    def add(self, route: Route) -> None:
        """Index one route; routes must arrive in precedence order (first one kept)."""
        if route.is_default_backend:
            self.default_backend = self.default_backend or route
        elif route.match == "exact":
            self.exact.setdefault(route.path, route)
        elif route.match == "regex":
            assert route.location is not None
            self.regex.append((route.location, route))
        else:
            key = prefix_key(route.path)
            if key == "/":
                self.catch_all = self.catch_all or route
            else:
                self.prefix.setdefault(key, route)
                self.prefix_depth = max(self.prefix_depth, key.count("/"))

    def match(self, path: str) -> Route | None:
        """The route for a normalised request path, or None (→ 404)."""
        route = self.exact.get(path)
        if route is not None:
            return route
        prefix = self.prefix
        if prefix:
            # Start at the deepest candidate a Prefix key could equal: `/a/b/c/d` against keys
            # at most two segments deep starts at `/a/b` (one str.find per segment, in C).
            cut = 0
            for _ in range(self.prefix_depth):
                cut = path.find("/", cut + 1)
                if cut < 0:
                    break
            candidate = (path[:cut] if cut > 0 else path).rstrip("/")
            while candidate:
                route = prefix.get(candidate)
                if route is not None:
                    return route
                candidate = candidate[: candidate.rfind("/")]
        for pattern, route in self.regex:
            if pattern.search(path):
                return route
        return self.catch_all or self.default_backend


class Matcher:
    """Host and path index over one route table."""

    __slots__ = ("_any_host", "_exact", "_wildcard")

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[str, HostRoutes] = {}
        self._wildcard: dict[str, HostRoutes] = {}
        self._any_host: HostRoutes | None = None
        for route in routes:
            self._host_routes(route.host).add(route)

    def _host_routes(self, host: str) -> HostRoutes:
        if not host:
            if self._any_host is None:
                self._any_host = HostRoutes()
            return self._any_host
        if host.startswith("*."):
            return self._wildcard.setdefault(host[2:], HostRoutes())
        return self._exact.setdefault(host, HostRoutes())

    def virtual_host(self, host: str) -> HostRoutes | None:
        """The virtual host serving a request host (already in `request_host` form)."""
        routes = self._exact.get(host)
        if routes is not None:
            return routes
        if self._wildcard:
            dot = host.find(".")
            if dot > 0:
                routes = self._wildcard.get(host[dot + 1 :])
                if routes is not None:
                    return routes
        return self._any_host

    def match(self, host: str, path: str) -> Route | None:
        """The route for a request host (`request_host` form) and normalised path."""
        routes = self.virtual_host(host)
        return routes.match(path) if routes is not None else None
