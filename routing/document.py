"""The routes document: what `/debug/routes` and `gateway routes --json` show (DESIGN.md)."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from annotations.canary import Selector
from annotations.ratelimit import RateLimits
from routing.globals import GlobalConfig
from routing.model import CanaryBackend, Route, RouteMirror
from routing.snapshot import Snapshot


def _route_entry(route: Route, snapshot: Snapshot) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "host": route.host,
        "path": route.path,
        "match": route.match,
        "namespace": route.namespace,
        "ingress": route.ingress,
        "service": route.service,
        "port": route.port,
        "endpoints": [e.hostport for e in snapshot.endpoints.get(route.backend, ())],
        "default_backend": route.is_default_backend,
        "source": route.field,
    }
    if route.conditions is not None:
        entry["conditions"] = route.conditions.describe()
    if route.rewrite is not None:
        kind = "rewrite_path" if route.rewrite.keep_rest else "rewrite_target"
        entry[kind] = route.rewrite.target
    if route.ignore_case:
        entry["ignore_case"] = True
    redirects = route.redirects
    if redirects is not None and redirects.redirect is not None:
        code = redirects.redirect.code or snapshot.config.http_redirect_code
        entry["redirect"] = {"code": code, "location": redirects.redirect.location.text}
    if redirects is not None and redirects.app_root is not None:
        entry["app_root"] = redirects.app_root
    fallback = route.fallback
    if fallback is not None:
        entry["default_backend_service"] = {
            "namespace": fallback.namespace,
            "service": fallback.service,
            "endpoints": [e.hostport for e in snapshot.endpoints.get(fallback.backend, ())],
        }
    if route.error_codes:
        entry["custom_http_errors"] = sorted(route.error_codes)
    if route.canaries:
        entry["canaries"] = [_canary_entry(c, snapshot) for c in route.canaries]
    _add_balancing(entry, route)
    if route.limits is not None:
        entry["rate_limits"] = _limits_entry(route.limits)
    if route.mirror is not None:
        entry["mirror"] = _mirror_entry(route.mirror, snapshot)
    if route.auth is not None:
        auth: dict[str, object] = {"satisfy": "any" if route.auth.satisfy_any else "all"}
        basic = route.auth.basic
        if basic is not None:
            auth["basic"] = {
                "secret": basic.source,
                "users": len(basic.users),
                "usable": basic.usable,
            }
        external = route.auth.external
        if external is not None:
            auth["external"] = {"url": external.config.url.text, "usable": external.usable}
        entry["auth"] = auth
    if route.cors is not None:
        entry["cors"] = list(route.cors.origins)
    if route.access is not None:
        entry["access"] = {k: list(v) for k, v in asdict(route.access).items() if v is not None}
    if route.tls:
        entry["tls"] = True
    if route.connections is not None:
        entry["connection_policy"] = {
            k: v for k, v in asdict(route.connections).items() if v
        }  # fmt: skip
    return entry


def _mirror_entry(mirror: RouteMirror, snapshot: Snapshot) -> dict[str, Any]:
    """Where copies go: the URL as written, or the Service with its endpoints."""
    entry: dict[str, Any] = {"request_body": mirror.request_body, "percentage": mirror.percentage}
    if mirror.url is not None:
        entry["target"] = mirror.url.text
    if mirror.service is not None:
        service = mirror.service
        entry["service"] = f"{service.namespace}/{service.service}"
        entry["endpoints"] = [e.hostport for e in snapshot.endpoints.get(service.backend, ())]
    if mirror.host is not None:
        entry["host"] = mirror.host
    return entry


def _limits_entry(limits: RateLimits) -> dict[str, Any]:
    """Each limit with its rate per second and burst; the per-client ones with their exemptions."""
    rates = [*limits.client_rates, limits.route_rate] if limits.route_rate else limits.client_rates
    entry: dict[str, Any] = {
        rate.name: {"per_second": rate.per_second, "burst": rate.burst} for rate in rates
    }
    if limits.connections:
        entry["connections"] = limits.connections
    if limits.exempt:
        entry["exempt"] = list(limits.exempt)
    return entry


def _add_balancing(entry: dict[str, Any], target: Route | CanaryBackend) -> None:
    """How the route or canary picks endpoints, when it is not plain round robin."""
    balancing = target.balancing
    if balancing is not None:
        entry["load_balance"] = "hash" if balancing.hash_by is not None else balancing.algorithm
    if target.affinity is not None:
        entry["affinity"] = {"mode": target.affinity.mode, "cookie": target.affinity.name}


def _canary_entry(canary: CanaryBackend, snapshot: Snapshot) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "namespace": canary.namespace,
        "ingress": canary.ingress,
        "service": canary.service,
        "port": canary.port,
        "endpoints": [e.hostport for e in snapshot.endpoints.get(canary.backend, ())],
        "weight_share": round(canary.share, 6),
    }
    for kind in ("header", "query", "cookie"):
        selector: Selector | None = getattr(canary, kind)
        if selector is not None:
            entry[kind] = {"name": selector.name}
            if selector.value is not None:
                entry[kind]["value"] = selector.value
            if selector.pattern is not None:
                entry[kind]["pattern"] = selector.pattern.pattern
    _add_balancing(entry, canary)
    return entry


def _settings(config: GlobalConfig) -> dict[str, Any]:
    """The global settings that differ from their defaults, under their ConfigMap keys."""
    default = GlobalConfig()
    return {
        f.name.replace("_", "-"): sorted(value) if isinstance(value, frozenset) else value
        for f in fields(config)
        if f.init and (value := getattr(config, f.name)) != getattr(default, f.name)
    }


def routes_document(snapshot: Snapshot, generation: int) -> dict[str, Any]:
    """The JSON-ready document for one snapshot at one generation."""
    return {
        "generation": generation,
        "digest": snapshot.digest,
        "routes": [_route_entry(r, snapshot) for r in snapshot.table.routes],
        "aliases": dict(snapshot.table.aliases),
        "problems": [p.as_dict() for p in snapshot.problems],
        "settings": _settings(snapshot.config),
    }
