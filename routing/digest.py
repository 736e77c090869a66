"""Stable content digests of route tables and endpoint sets.

The compiler orders everything deterministically, so the same objects in any order give the same
table; the digest is a hash of a canonical text form of it. The reconciler swaps only when the
digest changes, and `gateway_config_hash` exposes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from annotations.redirect import Redirects
from routing.headers import HeaderPolicy
from routing.model import BackendKey, CanaryBackend, Endpoint, Route
from routing.problems import Problem


def _route_fields(route: Route) -> tuple[object, ...]:
    rewrite = route.rewrite
    return (
        route.host,
        route.path,
        route.match,
        route.namespace,
        route.ingress,
        route.service,
        route.port,
        route.rule,
        route.index,
        (rewrite.target, rewrite.keep_rest) if rewrite else None,
        route.ignore_case,
        [_canary_fields(c) for c in route.canaries],
        _redirect_fields(route.redirects),
        _header_fields(route.headers),
        route.conditions.describe() if route.conditions is not None else None,
        route.fallback.backend if route.fallback is not None else None,
        tuple(sorted(route.error_codes)) if route.error_codes else (),
        repr(route.balancing) if route.balancing is not None else None,
        repr(route.timeouts) if route.timeouts is not None else None,
    )


def _header_fields(policy: HeaderPolicy | None) -> object:
    if policy is None:
        return None
    return [
        text.decode("latin-1") if isinstance(text, bytes) else text
        for text in (
            policy.host,
            sorted(n.decode("latin-1") for n in policy.request_drop),
            policy.request_lines,
            sorted(n.decode("latin-1") for n in policy.response_drop),
            policy.response_lines,
            policy.cookie_domain,
            policy.cookie_path,
            policy.redirect,
        )
    ]


def _redirect_fields(redirects: Redirects | None) -> object:
    if redirects is None:
        return None
    redirect = redirects.redirect
    return (
        (redirect.code, redirect.location.text) if redirect else None,
        redirects.app_root,
        redirects.use_port,
        redirects.relative,
    )


def _canary_fields(canary: CanaryBackend) -> tuple[object, ...]:
    selectors = [
        (s.name, s.value, s.pattern.pattern if s.pattern else None) if s else None
        for s in (canary.header, canary.query, canary.cookie)
    ]
    return (canary.namespace, canary.ingress, canary.backend, canary.field, selectors, canary.share)


def _hash(document: object) -> str:
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def routes_digest(routes: Iterable[Route]) -> str:
    """Digest of a route table's routes, in their (deterministic) order."""
    return _hash([_route_fields(r) for r in routes])


def endpoints_digest(endpoints: Mapping[BackendKey, tuple[Endpoint, ...]]) -> str:
    """Digest of endpoint sets, independent of mapping order."""
    return _hash(sorted((k, [e.hostport for e in v]) for k, v in endpoints.items()))


def problems_digest(problems: Iterable[Problem]) -> str:
    """Digest of the problem list, so a newly refused version (routes unchanged) still swaps."""
    return _hash([p.line() for p in problems])


def snapshot_digest(*parts: str) -> str:
    """Digest of a whole snapshot from the digests of its parts."""
    return _hash(list(parts))
