"""Every annotation group, in the order they are applied, and `parse_all`.

`GROUPS` is a literal tuple: the order in which the compiler applies groups is read here, not
discovered. `parse_all` runs every group once per Ingress version (the store caches the result)
and collects every invalid value, so that one `gateway check` run shows them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

from annotations import (
    access,
    affinity,
    auth,
    balancing,
    body,
    canary,
    connections,
    cors,
    extauth,
    headers,
    hosts,
    matching,
    mirror,
    ratelimit,
    redirect,
    retries,
    rewrite,
    service,
    snippets,
    timeouts,
    tlspolicy,
    upstreamtls,
)
from annotations._fields import Field, strip_prefix
from annotations.errors import AnnotationError


@dataclass(frozen=True, slots=True)
class Group:
    """One annotation module: its name, field table and parser."""

    name: str
    fields: tuple[Field, ...]
    parse: Callable[[Mapping[str, str]], object]
    doc: str
    warnings: Callable[[Mapping[str, str]], list[AnnotationError]] | None = None
    """Valid values that do not do what they seem to (the group's optional `warnings`)."""


def _group(name: str, module: ModuleType) -> Group:
    doc = (module.__doc__ or "").strip().split("\n", 1)[0]
    return Group(name, module.FIELDS, module.parse, doc, getattr(module, "warnings", None))


GROUPS: tuple[Group, ...] = (
    _group("canary", canary),
    _group("rewrite", rewrite),
    _group("matching", matching),
    _group("redirect", redirect),
    _group("cors", cors),
    _group("headers", headers),
    _group("hosts", hosts),
    _group("balancing", balancing),
    _group("affinity", affinity),
    _group("timeouts", timeouts),
    _group("retries", retries),
    _group("body", body),
    _group("ratelimit", ratelimit),
    _group("mirror", mirror),
    _group("connections", connections),
    _group("access", access),
    _group("auth", auth),
    _group("extauth", extauth),
    _group("tlspolicy", tlspolicy),
    _group("upstreamtls", upstreamtls),
    _group("service", service),
    _group("snippets", snippets),
)

KNOWN_KEYS: frozenset[str] = frozenset(f.name for g in GROUPS for f in g.fields)
CANARY_KEYS: frozenset[str] = frozenset(f.name for f in canary.FIELDS)
OWN_ON_CANARY: frozenset[str] = frozenset(f.name for f in (*balancing.FIELDS, *affinity.FIELDS))
"""Keys a canary Ingress keeps for its own backend (ingress-nginx: `load-balance`,
`upstream-hash-by` and the affinity keys)."""


def is_known(name: str) -> bool:
    """Whether a key without prefix is one we support (templated `*-match-*` keys included)."""
    return name in KNOWN_KEYS or matching.is_condition_key(name)


def _shapes_canary(name: str) -> bool:
    """Keys that mean something on a canary Ingress: its own, those that shape its backend,
    and the route conditions that pick the primary route it joins."""
    return (
        name in CANARY_KEYS
        or name in OWN_ON_CANARY
        or name == matching.MATCH_METHOD.name
        or matching.is_condition_key(name)
    )


@dataclass(frozen=True, slots=True)
class IngressAnnotations:
    """The parsed, typed annotations of one Ingress version; None means "not configured"."""

    canary: canary.Canary | None = None
    rewrite: rewrite.Rewrite | None = None
    matching: matching.Conditions | None = None
    redirect: redirect.Redirects | None = None
    cors: cors.Cors | None = None
    headers: headers.HeaderControl | None = None
    hosts: hosts.HostsAndFallbacks | None = None
    balancing: balancing.Balancing | None = None
    affinity: affinity.Affinity | None = None
    timeouts: timeouts.Timeouts | None = None
    retries: retries.Retries | None = None
    body: body.BodyLimits | None = None
    ratelimit: ratelimit.RateLimits | None = None
    mirror: mirror.Mirror | None = None
    connections: connections.ConnectionPolicy | None = None
    access: access.AccessControl | None = None
    auth: auth.Authentication | None = None
    extauth: extauth.ExternalAuth | None = None
    tlspolicy: tlspolicy.TlsPolicy | None = None
    upstreamtls: upstreamtls.UpstreamTls | None = None
    service: bool | None = None
    """`service-upstream`: the Services' cluster IPs instead of their endpoints."""
    snippets: None = None
    """Always None: an Ingress with a snippet is refused (`annotations.snippets`)."""


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What `parse_all` found: the config (when every value was valid), errors and warnings."""

    config: IngressAnnotations | None
    errors: tuple[AnnotationError, ...]
    warnings: tuple[AnnotationError, ...]


_NOTHING = ParseResult(IngressAnnotations(), (), ())


def parse_all(annotations: Mapping[str, str]) -> ParseResult:
    """Parse every group; `config` is None when any value is invalid (DESIGN invariant 4)."""
    if all(strip_prefix(key) is None for key in annotations):
        return _NOTHING  # most Ingresses: no key of ours, so every group has its default
    values: dict[str, object] = {}
    errors: list[AnnotationError] = []
    for group in GROUPS:
        try:
            values[group.name] = group.parse(annotations)
        except AnnotationError as err:
            errors.append(err)
    warnings = [
        AnnotationError(key, "unknown or not yet supported annotation; it has no effect")
        for key in sorted(annotations)
        if (name := strip_prefix(key)) is not None and not is_known(name)
    ]
    for group in GROUPS:
        if group.warnings is not None:
            warnings += group.warnings(annotations)
    if values.get("canary") is not None and not errors:
        warnings += _ignored_on_canary(annotations)
    config = None if errors else IngressAnnotations(**values)  # type: ignore[arg-type]
    return ParseResult(config, tuple(errors), tuple(warnings))


def _ignored_on_canary(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """A canary takes its policies from the primary route it joins (ingress-nginx)."""
    return [
        AnnotationError(
            key,
            "has no effect on a canary Ingress: requests it receives follow the primary "
            "Ingress's settings, as in ingress-nginx",
        )
        for key in sorted(annotations)
        if (name := strip_prefix(key)) is not None and is_known(name) and not _shapes_canary(name)
    ]
