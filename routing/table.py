"""The route table: admitted Ingresses, oldest first → routes in precedence order (compiler
steps 3-6, see `routing.compile`). Pure.

`build_table` runs the steps on a `_TableBuilder`, which accumulates routes Ingress by Ingress:

* each rule path claims (host, match kind, path key, conditions); an older claim wins and the
  loser becomes a `ConflictingPath` problem naming both;
* `spec.defaultBackend` routes, `from-to-www-redirect` catch-alls and `server-alias` names;
* canary Ingresses attach to the claims of the rules they name, then weights are normalised;
* each host's routes are sorted in precedence order (DESIGN.md invariant 6).

A route carries everything its Ingress's annotations ask for (rewrite, redirects, header policy,
fallback, balancing, timeouts, conditions), built once here so the proxy only reads it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from annotations import find
from annotations.access import IpRules
from annotations.affinity import Affinity, AffinityCookie
from annotations.matching import Conditions
from annotations.redirect import Redirect, Redirects, url_template
from annotations.rewrite import Rewrite as RewriteConfig
from routing.admission import AdmittedIngress, compile_nginx_regex
from routing.attachments import Attachments
from routing.model import (
    FIRST_PORT,
    CanaryBackend,
    Fallback,
    MatchKind,
    MirrorService,
    Rewrite,
    Route,
    RouteMirror,
    backend_key,
)
from routing.paths import prefix_key
from routing.problems import Problem
from routing.sources import ConfigMap, IngressPath, Secret, ServiceBackendRef
from routing.tls import declared_tls_hosts, is_declared


@dataclass(frozen=True, slots=True)
class TableParts:
    """What `build_table` produces for the compiler to wrap in a `RouteTable`."""

    routes: tuple[Route, ...]
    problems: tuple[Problem, ...]
    aliases: tuple[tuple[str, str], ...]


def build_table(
    ours: Sequence[AdmittedIngress],
    configmaps: Sequence[ConfigMap] = (),
    host_wide_regex: bool = False,
    secrets: Sequence[Secret] = (),
) -> TableParts:
    """Steps 3-6 over our Ingresses in `ingress_order`."""
    regex = regex_hosts(ours) if host_wide_regex else frozenset()
    builder = _TableBuilder(configmaps, regex, secrets)
    for admitted in ours:
        if not admitted.is_canary:
            builder.add(admitted)
    builder.add_www_redirects()
    builder.add_aliases(a for a in ours if not a.is_canary)
    for admitted in ours:
        if admitted.is_canary:
            builder.attach_canary(admitted)
    routes = _mark_tls_hosts(builder.routes(), declared_tls_hosts(ours))
    routes = _apply_domain_access(routes, ours)
    return TableParts(routes, tuple(builder.problems), tuple(sorted(builder.aliases.items())))


def _apply_domain_access(
    routes: tuple[Route, ...], ours: Sequence[AdmittedIngress]
) -> tuple[Route, ...]:
    """MSE's `domain-*-source-range`: the oldest Ingress that sets them for a host gives them
    to every route of that host, under each route's own lists."""
    by_host: dict[str, IpRules] = {}
    for admitted in ours:
        access = admitted.config.access
        if access is None or access.domain is None or admitted.is_canary:
            continue
        for rule in admitted.source.rules:
            if rule.host:
                by_host.setdefault(rule.host, access.domain)
    if not by_host:
        return routes
    return tuple(
        replace(route, access=(route.access or IpRules()).over(by_host[route.host]))
        if route.host in by_host
        else route
        for route in routes
    )


def _mark_tls_hosts(routes: tuple[Route, ...], declared: frozenset[str]) -> tuple[Route, ...]:
    """Flag the routes whose host has TLS: where `ssl-redirect` sends plain HTTP to HTTPS."""
    if not declared:
        return routes
    return tuple(
        replace(route, tls=True) if route.host and is_declared(declared, route.host) else route
        for route in routes
    )


def ingress_order(ingresses: Iterable[AdmittedIngress]) -> list[AdmittedIngress]:
    """Oldest first; ties by namespace/name descending (ingress-nginx `sortIngressSlice`)."""
    ordered = sorted(ingresses, key=lambda a: a.source.meta.ref, reverse=True)
    ordered.sort(key=_age)  # stable: keeps the descending name order among equal ages
    return ordered


def _age(admitted: AdmittedIngress) -> tuple[int, float]:
    meta = admitted.source.meta
    if meta.creation_timestamp is None:
        return (0, float(meta.position))
    return (1, meta.creation_timestamp.timestamp())


# Precedence categories within one host (DESIGN.md invariant 6).
_EXACT, _PREFIX, _REGEX, _CATCH_ALL, _DEFAULT = range(5)

Claim = tuple[str, MatchKind, str, Conditions | None]
"""What a route claims: host, match kind, path key and conditions. An older claim wins."""
_UNCONDITIONAL = (2, 0, 0, 0)


class _TableBuilder:
    """Accumulates routes Ingress by Ingress, oldest first, settling conflicts on the way."""

    def __init__(
        self,
        configmaps: Sequence[ConfigMap] = (),
        regex_hosts: frozenset[str] = frozenset(),
        secrets: Sequence[Secret] = (),
    ) -> None:
        self.regex_hosts = regex_hosts
        """Hosts whose every path is a regex (`host-wide-regex`: ingress-nginx's behaviour)."""
        self.claimed: dict[Claim, Route] = {}
        self.by_rule: dict[tuple[str, str, str, Conditions | None], Claim] = {}
        """(host, path, pathType, conditions) as written → the claim of the route it made."""
        self.hosts: set[str] = set()
        self.aliases: dict[str, str] = {}
        """`server-alias` name → the host whose routes serve it."""
        self.defaults: dict[str, Route] = {}
        self.problems: list[Problem] = []
        self.attached = Attachments(configmaps, secrets, self.problems)

    def add(self, admitted: AdmittedIngress) -> None:
        ingress = admitted.source
        new_hosts: list[str] = []
        for i, rule in enumerate(ingress.rules):
            if rule.host and rule.host not in self.hosts:
                self.hosts.add(rule.host)
                new_hosts.append(rule.host)
            for j, path in enumerate(rule.paths):
                self._add_path(admitted, rule.host, i, j, path)
        if ingress.default_backend is not None:
            hosts = new_hosts if ingress.rules else [""]
            self._add_default(admitted, ingress.default_backend, hosts)

    def _add_path(
        self, admitted: AdmittedIngress, host: str, i: int, j: int, path: IngressPath
    ) -> None:
        patterns = admitted.patterns.get(path.path)
        config = admitted.config.rewrite
        kind: MatchKind
        location = None
        if admitted.is_regex(path):
            assert patterns is not None
            kind, key, location = "regex", path.path, patterns[0]
        elif host in self.regex_hosts:
            kind, key, location = "regex", path.path, _host_wide_location(path.path)
        elif path.path_type == "Exact":
            kind, key = "exact", path.path
        else:
            kind, key = "prefix", prefix_key(path.path)
        ignore_case = kind != "regex" and config is not None and config.ignore_case
        if ignore_case:
            key = key.lower()
        rewrite = _rewrite(config, path.path, kind, key, patterns, location)
        route = self._route(
            admitted, host, path.path, kind, path.backend, i, j, rewrite, location, ignore_case
        )
        conditions = admitted.config.matching
        claim = (host, kind, key, conditions)
        winner = self.claimed.setdefault(claim, route)
        if winner is not route:
            self.problems.append(_conflict(route, path, winner))
        else:
            self.by_rule.setdefault((host, path.path, path.path_type, conditions), claim)

    def _route(
        self,
        admitted: AdmittedIngress,
        host: str,
        path: str,
        kind: MatchKind,
        backend: ServiceBackendRef,
        rule: int,
        index: int,
        rewrite: Rewrite | None = None,
        location: re.Pattern[str] | None = None,
        ignore_case: bool = False,
    ) -> Route:
        """One route of `admitted`, with its Ingress's redirect, header and fallback settings."""
        meta = admitted.source.meta
        hosts = admitted.config.hosts
        return Route(
            host=host,
            path=path,
            match=kind,
            namespace=meta.namespace,
            ingress=meta.name,
            service=backend.service,
            port=backend.port,
            backend=backend_key(
                meta.namespace,
                backend.service,
                backend.port,
                cluster_ip=bool(admitted.config.service),
            ),
            rule=rule,
            index=index,
            rewrite=rewrite,
            location=location,
            ignore_case=ignore_case,
            redirects=admitted.config.redirect,
            headers=self.attached.header_policy(admitted),
            fallback=_fallback(admitted),
            error_codes=hosts.error_codes if hosts is not None else frozenset(),
            balancing=admitted.config.balancing,
            affinity=admitted.config.affinity.cookie if admitted.config.affinity else None,
            timeouts=admitted.config.timeouts,
            retries=admitted.config.retries,
            body=admitted.config.body,
            limits=admitted.config.ratelimit,
            mirror=_mirror(admitted),
            connections=admitted.config.connections,
            access=admitted.config.access.route if admitted.config.access else None,
            cors=admitted.config.cors,
            auth=self.attached.auth(admitted),
            pod_tls=self.attached.pod_tls(admitted, backend.service),
            conditions=admitted.config.matching if rule >= 0 else None,
        )

    def _warn(self, admitted: AdmittedIngress, field: str, reason: str, code: str) -> None:
        meta = admitted.source.meta
        self.problems.append(
            Problem("Ingress", meta.namespace, meta.name, field, reason, "warning", code)
        )

    def attach_canary(self, admitted: AdmittedIngress) -> None:
        """Attach a canary Ingress's backends to the primary routes it names (reference §3.1)."""
        ingress = admitted.source
        for i, rule in enumerate(ingress.rules):
            for j, path in enumerate(rule.paths):
                field = f"spec.rules[{i}].http.paths[{j}]"
                conditions = admitted.config.matching
                claim = self.by_rule.get((rule.host, path.path, path.path_type, conditions))
                if claim is None:
                    what = f"host {rule.host or '(any host)'} path {path.path!r} ({path.path_type})"
                    if conditions is not None:
                        what += f" when {conditions.describe()}"
                    self._unmatched(admitted, field, what)
                    continue
                self.claimed[claim] = _with_canary(
                    self.claimed[claim], admitted, path.backend, field
                )
        backend = ingress.default_backend
        if backend is not None:
            hosts = sorted({r.host for r in ingress.rules}) if ingress.rules else [""]
            matched = [h for h in hosts if h in self.defaults]
            for host in matched:
                self.defaults[host] = _with_canary(
                    self.defaults[host], admitted, backend, "spec.defaultBackend"
                )
            if not matched:
                self._unmatched(admitted, "spec.defaultBackend", "the default backend")

    def add_www_redirects(self) -> None:
        """`from-to-www-redirect`: the other spelling of each rule host redirects to it, unless
        some rule serves that name itself (ingress-nginx's redirect servers)."""
        for route in list(self.claimed.values()):
            redirects = route.redirects
            host = route.host
            if redirects is None or not redirects.from_to_www or not host or "*" in host:
                continue
            other = host[4:] if host.startswith("www.") else f"www.{host}"
            if other in self.hosts:
                continue
            self.hosts.add(other)
            target = Redirect(None, url_template(f"$scheme://{host}$request_uri"))
            self.claimed[(other, "prefix", "/", None)] = replace(
                route,
                host=other,
                path="/",
                match="prefix",
                rewrite=None,
                location=None,
                canaries=(),
                redirects=Redirects(redirect=target),
                headers=None,
                fallback=None,
                error_codes=frozenset(),
                conditions=None,
            )

    def add_aliases(self, ingresses: Iterable[AdmittedIngress]) -> None:
        """`server-alias`: each alias names the first rule host of its Ingress, unless a rule
        serves that name itself or an older Ingress's host already took it (ingress-nginx
        drops such aliases too); those are warnings."""
        for admitted in ingresses:
            config = admitted.config.hosts
            hosts = [r.host for r in admitted.source.rules if r.host]
            if config is None or not config.aliases or not hosts:
                continue
            found = find(admitted.source.meta.annotations or {}, "server-alias")
            field = f"metadata.annotations[{found[0] if found else 'server-alias'}]"
            for alias in config.aliases:
                owner = self.aliases.get(alias)
                if alias in self.hosts:
                    reason = f"alias {alias} is ignored: a rule serves that host itself"
                elif owner is not None and owner != hosts[0]:
                    reason = f"alias {alias} is ignored: it is already an alias of host {owner}"
                else:
                    self.aliases[alias] = hosts[0]
                    continue
                self._warn(admitted, field, reason, "IgnoredAlias")

    def _unmatched(self, admitted: AdmittedIngress, field: str, what: str) -> None:
        reason = (
            f"canary for {what}, but no non-canary Ingress serves it with the same host, "
            "path, pathType and match conditions; it receives no traffic"
        )
        self._warn(admitted, field, reason, "CanaryWithoutPrimary")

    def _add_default(
        self, admitted: AdmittedIngress, backend: ServiceBackendRef, hosts: list[str]
    ) -> None:
        used = False
        for host in hosts:
            if host not in self.defaults:
                self.defaults[host] = self._route(admitted, host, "/", "prefix", backend, -1, -1)
                used = True
        if not used:
            reason = (
                "is not used: the hosts of this Ingress (or, without rules, the default "
                "server) already have a default backend from an older Ingress"
            )
            self._warn(admitted, "spec.defaultBackend", reason, "UnusedDefaultBackend")

    def routes(self) -> tuple[Route, ...]:
        """Every route, hosts in a stable order, each host's routes in precedence order."""
        by_host: dict[str, list[tuple[Precedence, Route]]] = defaultdict(list)
        every = [*self.claimed.values(), *self.defaults.values()]
        for seq, route in enumerate(_normalise_weights(r) for r in every):
            by_host[route.host].append((_precedence(route, seq), route))
        ordered: list[Route] = []
        for host in sorted(by_host, key=lambda h: (h == "", h.startswith("*."), h)):
            ordered.extend(route for _, route in sorted(by_host[host], key=lambda p: p[0]))
        return tuple(ordered)


def _mirror(admitted: AdmittedIngress) -> RouteMirror | None:
    """The Ingress's mirror, its Service (if named) as a backend."""
    config = admitted.config.mirror
    if config is None:
        return None
    service = None
    if config.service is not None:
        meta = admitted.source.meta
        namespace, name, port = config.service
        namespace = namespace or meta.namespace
        found = find(meta.annotations or {}, "mirror-target-service")
        service = MirrorService(
            namespace=namespace,
            ingress=meta.name,
            service=name,
            backend=backend_key(namespace, name, FIRST_PORT if port is None else port),
            field=found[0] if found else "mirror-target-service",
            port=FIRST_PORT if port is None else port,
        )
    return RouteMirror(config.url, service, config.host, config.request_body, config.percentage)


def _fallback(admitted: AdmittedIngress) -> Fallback | None:
    """The Ingress's `default-backend` annotation as a backend (the Service's first port)."""
    config = admitted.config.hosts
    if config is None or config.default_backend is None:
        return None
    meta = admitted.source.meta
    namespace = config.default_backend[0] or meta.namespace
    service = config.default_backend[1]
    found = find(meta.annotations or {}, "default-backend")
    return Fallback(
        namespace=namespace,
        ingress=meta.name,
        service=service,
        backend=backend_key(namespace, service, FIRST_PORT),
        field=found[0] if found else "default-backend",
    )


def _rewrite(
    config: RewriteConfig | None,
    path: str,
    kind: MatchKind,
    key: str,
    patterns: tuple[re.Pattern[str], re.Pattern[str]] | None,
    location: re.Pattern[str] | None,
) -> Rewrite | None:
    """The route's rewrite: `rewrite-path` replaces what the rule matched (the regex's match,
    the Exact path, or the Prefix key), `rewrite-target` the whole path."""
    if config is None:
        return None
    if config.path is not None:
        if location is not None:
            return Rewrite(location, config.path, keep_rest=True)
        literal = "" if kind == "prefix" and key == "/" else key
        flags = re.IGNORECASE if config.ignore_case else 0
        return Rewrite(re.compile(re.escape(literal), flags), config.path, keep_rest=True)
    if config.target is not None and config.target != path:
        assert patterns is not None
        return Rewrite(patterns[1], config.target)
    return None


@lru_cache(maxsize=4096)
def _host_wide_location(path: str) -> re.Pattern[str]:
    """A literal path as nginx reads it once its host is in regex mode: a case-insensitive,
    start-anchored regex (so `Exact /foo` also matches `/FOO/bar`, ingress-nginx #8208). A path
    that is not a valid regex is taken literally."""
    try:
        return compile_nginx_regex(path, anchored=True)
    except re.error:
        return re.compile("^" + re.escape(path), re.IGNORECASE)


def regex_hosts(ingresses: Iterable[AdmittedIngress]) -> frozenset[str]:
    """Hosts with a rule from a non-canary Ingress in regex mode: under `host-wide-regex`, every
    path of these hosts, in every Ingress, becomes a regex (reference §4.6)."""
    return frozenset(
        rule.host
        for admitted in ingresses
        if not admitted.is_canary
        and admitted.config.rewrite is not None
        and admitted.config.rewrite.use_regex
        for rule in admitted.source.rules
    )


def _with_canary(
    route: Route, admitted: AdmittedIngress, backend: ServiceBackendRef, field: str
) -> Route:
    """`route` with one more canary backend (the newest canary Ingress last)."""
    config = admitted.config.canary
    assert config is not None
    meta = admitted.source.meta
    canary = CanaryBackend(
        namespace=meta.namespace,
        ingress=meta.name,
        service=backend.service,
        port=backend.port,
        backend=backend_key(meta.namespace, backend.service, backend.port),
        field=field,
        header=config.header,
        query=config.query,
        cookie=config.cookie,
        share=config.share,
        balancing=admitted.config.balancing,
        affinity=_canary_affinity(route, admitted.config.affinity),
    )
    return replace(route, canaries=(*route.canaries, canary))


def _canary_affinity(primary: Route, own: Affinity | None) -> AffinityCookie | None:
    """The canary's own cookie settings; without them, the primary's unless the canary asks
    for `affinity-canary-behavior: legacy` (reference §3.1)."""
    if own is not None and own.cookie is not None:
        return own.cookie
    if own is not None and own.canary_behavior == "legacy":
        return None
    return primary.affinity


def _normalise_weights(route: Route) -> Route:
    """Scale the canaries' weight shares down when together they ask for more than every
    request (MSE's rule for several weighted canaries; one canary keeps nginx's weight / total
    exactly)."""
    total = sum(c.share for c in route.canaries)
    if total <= 1.0:
        return route
    return replace(route, canaries=tuple(replace(c, share=c.share / total) for c in route.canaries))


def _conflict(loser: Route, path: IngressPath, winner: Route) -> Problem:
    host = loser.host or "(any host)"
    when = f" when {loser.conditions.describe()}" if loser.conditions is not None else ""
    if (winner.namespace, winner.ingress) == (loser.namespace, loser.ingress):
        owner = f"an earlier path of this Ingress ({winner.field})"
    else:
        owner = (
            f"Ingress {winner.namespace}/{winner.ingress} ({winner.field}), which is older "
            "(or as old and later in namespace/name order)"
        )
    return Problem(
        "Ingress",
        loser.namespace,
        loser.ingress,
        loser.field,
        f"host {host} path {path.path!r} ({path.path_type}){when} is already served by {owner}; "
        "this path is ignored",
        code="ConflictingPath",
    )


Precedence = tuple[int, int, str, tuple[int, int, int, int], int]


def _precedence(route: Route, seq: int) -> Precedence:
    """Category, longer path first, then (same path) more specific conditions first, then age."""
    rank = route.conditions.rank if route.conditions is not None else _UNCONDITIONAL
    if route.is_default_backend:
        return (_DEFAULT, 0, "", rank, seq)
    if route.match == "exact":
        return (_EXACT, 0, route.path, rank, seq)
    if route.match == "regex":
        return (_REGEX, -len(route.path), "", rank, seq)
    key = prefix_key(route.path)
    if key == "/":
        return (_CATCH_ALL, 0, "", rank, seq)
    return (_PREFIX, -len(key), key, rank, seq)
