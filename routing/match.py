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

Case. Exact and Prefix paths of an Ingress with `ignore-path-case` live in their own two
indexes, keyed in lower case and looked up with the lower-cased path right after the
case-sensitive index at the same length (so a case-sensitive route wins a tie). A host without
such routes never lower-cases anything.

Conditions. Routes may share a path when their method, header or query conditions differ
(`annotations.matching`). Each index entry is then a tuple of routes, most specific conditions
first and the unconditional route (if any) last; the first route whose conditions hold serves.
When none holds, matching goes on to the next shorter candidate as if the path had no route, so
a `match-method: GET` route on `/api` lets a POST fall through to `/` (Envoy's first-match).

The cost is bounded by the depth of the request path plus the host's regex routes, never by the
number of Ingresses. `naive_match` in the tests states the same rules as a scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from annotations.matching import Request
from routing.model import Route
from routing.paths import prefix_key

Candidates = tuple[Route, ...]
"""The routes of one index entry, in precedence order: conditional ones before the plain one."""


def _serves(route: Route, request: Request | None) -> bool:
    """Whether the route's conditions (if any) hold for the request (None: they never do)."""
    conditions = route.conditions
    return conditions is None or (request is not None and conditions.accepts(request))


def _first(candidates: Candidates, request: Request | None) -> Route | None:
    """The first candidate that serves the request (callers have handled a plain first one:
    the common case, kept inline on the hot path)."""
    return next((r for r in candidates if _serves(r, request)), None)


@dataclass(slots=True)
class HostRoutes:
    """The routes of one virtual host, indexed. Built once, then only read."""

    exact: dict[str, Candidates] = field(default_factory=dict)
    prefix: dict[str, Candidates] = field(default_factory=dict)
    exact_folded: dict[str, Candidates] = field(default_factory=dict)
    prefix_folded: dict[str, Candidates] = field(default_factory=dict)
    """`ignore-path-case` routes, keyed in lower case."""
    regex: list[tuple[re.Pattern[str], Route]] = field(default_factory=list)
    catch_all: Candidates = ()
    default_backend: Route | None = None
    prefix_depth: int = 0
    """Segments in the deepest Prefix key: deeper parts of a request path cannot match."""

    def add(self, route: Route) -> None:
        """Index one route. Routes arrive in precedence order; one that comes after a plain
        route at the same path could never serve, so it is not kept."""
        if route.is_default_backend:
            self.default_backend = self.default_backend or route
        elif route.match == "exact":
            index, key = self.exact, route.path
            if route.ignore_case:
                index, key = self.exact_folded, key.lower()
            index[key] = _append(index.get(key, ()), route)
        elif route.match == "regex":
            assert route.location is not None
            self.regex.append((route.location, route))
        else:
            key = prefix_key(route.path)
            if key == "/":
                self.catch_all = _append(self.catch_all, route)
            else:
                index = self.prefix
                if route.ignore_case:
                    index, key = self.prefix_folded, key.lower()
                index[key] = _append(index.get(key, ()), route)
                self.prefix_depth = max(self.prefix_depth, key.count("/"))

    def match(self, path: str, request: Request | None = None) -> Route | None:
        """The route for a normalised request path, or None (→ 404). Without `request`, routes
        with conditions never match."""
        found: Route | None
        candidates = self.exact.get(path)
        if candidates is not None:
            route = candidates[0]
            if route.conditions is None:
                return route
            if (found := _first(candidates, request)) is not None:
                return found
        folded = self.prefix_folded
        if self.exact_folded or folded:
            candidates = self.exact_folded.get(path.lower())
            if candidates is not None and (found := _first(candidates, request)) is not None:
                return found
        prefix = self.prefix
        if prefix or folded:
            # Start at the deepest candidate a Prefix key could equal: `/a/b/c/d` against keys
            # at most two segments deep starts at `/a/b` (one str.find per segment, in C).
            cut = 0
            for _ in range(self.prefix_depth):
                cut = path.find("/", cut + 1)
                if cut < 0:
                    break
            candidate = (path[:cut] if cut > 0 else path).rstrip("/")
            while candidate:
                candidates = prefix.get(candidate)
                if candidates is not None:
                    route = candidates[0]
                    if route.conditions is None:
                        return route
                    if (found := _first(candidates, request)) is not None:
                        return found
                if folded:
                    candidates = folded.get(candidate.lower())
                    if (
                        candidates is not None
                        and (found := _first(candidates, request)) is not None
                    ):
                        return found
                candidate = candidate[: candidate.rfind("/")]
        for pattern, route in self.regex:
            if pattern.search(path) and _serves(route, request):
                return route
        candidates = self.catch_all
        if candidates:
            route = candidates[0]
            if route.conditions is None:
                return route
            if (found := _first(candidates, request)) is not None:
                return found
        return self.default_backend


class Matcher:
    """Host and path index over one route table."""

    __slots__ = ("_any_host", "_exact", "_wildcard")

    def __init__(
        self, routes: Iterable[Route] = (), aliases: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Index `routes` (in precedence order) and `aliases`. Without arguments it matches
        nothing: compiled, unpickling makes one that way before restoring its indexes."""
        self._exact: dict[str, HostRoutes] = {}
        self._wildcard: dict[str, HostRoutes] = {}
        self._any_host: HostRoutes | None = None
        for route in routes:
            self._host_routes(route.host).add(route)
        for alias, host in aliases:  # `server-alias`: one more name for the same virtual host
            index, key = (
                (self._wildcard, host[2:]) if host.startswith("*.") else (self._exact, host)
            )
            routes_of_host = index.get(key)
            if routes_of_host is not None:
                alias_index = self._wildcard if alias.startswith("*.") else self._exact
                alias_index[alias[2:] if alias.startswith("*.") else alias] = routes_of_host

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

    def match(self, host: str, path: str, request: Request | None = None) -> Route | None:
        """The route for a request host (`request_host` form), normalised path and, for
        routes with conditions, the request's method, headers and query."""
        routes = self.virtual_host(host)
        return routes.match(path, request) if routes is not None else None


def _append(candidates: Candidates, route: Route) -> Candidates:
    """`candidates` with `route`, unless a plain route already ends them (it always serves)."""
    if candidates and candidates[-1].conditions is None:
        return candidates
    return (*candidates, route)
