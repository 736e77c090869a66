"""Local rate limits: nginx's per client address, Higress's per route (reference §1L, §2).

nginx: `limit-rps`, `limit-rpm`, `limit-connections`, `limit-burst-multiplier` and the allow
list; Higress: `route-limit-rps`, `-rpm` and `-burst-multiplier`.

The two families count different things and answer differently, and users come from one or the
other, so both behave as they did there:

* nginx's limits count **per client address**, across every path of the Ingress (ingress-nginx
  makes one zone per Ingress), with a burst of rate times `limit-burst-multiplier` served at once
  (`nodelay`). `limit-rps` and `limit-rpm` may both be set; a request must pass both. Refused
  requests get the ConfigMap's `limit-req-status-code` / `limit-conn-status-code` (503).
  Addresses in `limit-allowlist` (or `limit-whitelist`) are never limited.
* Higress's limit counts **per route**, every client together: a bucket of rate times
  `route-limit-burst-multiplier` tokens, refilled at the rate. Refused requests get 429 with the
  body `local_rate_limited`. `route-limit-rpm` wins over `route-limit-rps`.

Both are per gateway process, as ingress-nginx's are per replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, typed_value, value_of
from annotations._validators import cidrs, count


def _multiplier(raw: str) -> int:
    value = count(raw)
    if value < 1:
        raise ValueError(f"{raw!r}: the multiplier is at least 1")
    return value


RPS = Field(
    "limit-rps",
    count,
    default=0,
    value_format="requests per second",
    doc="Requests per second from one client address, across the Ingress's paths; the burst "
    "is this times `limit-burst-multiplier`. Beyond: `limit-req-status-code` (503). 0 = off.",
)
RPM = Field(
    "limit-rpm",
    count,
    default=0,
    value_format="requests per minute",
    doc="As `limit-rps`, per minute; when both are set a request must pass both.",
)
CONNECTIONS = Field(
    "limit-connections",
    count,
    default=0,
    value_format="number",
    doc="Requests in progress at once from one client address, across the Ingress's paths; "
    "beyond: `limit-conn-status-code` (503). 0 = off.",
)
BURST = Field(
    "limit-burst-multiplier",
    _multiplier,
    default=5,
    value_format="number ≥ 1",
    doc="Burst size of `limit-rps` / `limit-rpm` as a multiple of the rate, served at once.",
)
ALLOWLIST = Field(
    "limit-allowlist",
    cidrs,
    default=(),
    value_format="comma list of CIDRs",
    doc="Client addresses the `limit-*` limits never apply to.",
)
WHITELIST = Field(
    "limit-whitelist",
    cidrs,
    default=(),
    value_format="comma list of CIDRs",
    doc="The older name of `limit-allowlist` (which wins when both are set).",
)
ROUTE_RPS = Field(
    "route-limit-rps",
    count,
    default=0,
    value_format="requests per second",
    doc="Requests per second on each path of the Ingress, all clients together (Higress); "
    "beyond: 429 `local_rate_limited`. 0 = off.",
    origin="mse",
)
ROUTE_RPM = Field(
    "route-limit-rpm",
    count,
    default=0,
    value_format="requests per minute",
    doc="As `route-limit-rps`, per minute; wins over `route-limit-rps` (Higress).",
    origin="mse",
)
ROUTE_BURST = Field(
    "route-limit-burst-multiplier",
    _multiplier,
    default=5,
    value_format="number ≥ 1",
    doc="Bucket size of `route-limit-*` as a multiple of the rate (Higress).",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (
    RPS,
    RPM,
    CONNECTIONS,
    BURST,
    ALLOWLIST,
    WHITELIST,
    ROUTE_RPS,
    ROUTE_RPM,
    ROUTE_BURST,
)


@dataclass(frozen=True, slots=True)
class Rate:
    """A request rate with the burst allowed on top of it."""

    name: str
    """The annotation's short name (`rps`, `rpm`, `route`), for metrics and messages."""
    per_second: float
    burst: int
    """nginx: requests beyond the first that may come at once; Higress: the bucket size."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """One Ingress's limits."""

    client_rates: tuple[Rate, ...] = ()
    """nginx `limit-rps` / `limit-rpm`, counted per client address."""
    connections: int = 0
    """nginx `limit-connections`: requests in progress per client address; 0 = none."""
    exempt: tuple[str, ...] = ()
    """`limit-allowlist`: client networks none of the nginx limits apply to."""
    route_rate: Rate | None = None
    """Higress `route-limit-*`, counted per route."""


def parse(annotations: Mapping[str, str]) -> RateLimits | None:
    """The Ingress's limits, or None when it sets none (or only zeros)."""
    for field in FIELDS:
        value_of(annotations, field)  # validates every key, used or not
    if not is_set(annotations, RPS, RPM, CONNECTIONS, ROUTE_RPS, ROUTE_RPM):
        return None
    multiplier = typed_value(annotations, BURST, int)
    client_rates = []
    rps = typed_value(annotations, RPS, int)
    if rps:
        client_rates.append(Rate("rps", rps, rps * multiplier))
    rpm = typed_value(annotations, RPM, int)
    if rpm:
        client_rates.append(Rate("rpm", rpm / 60, rpm * multiplier))
    allowlist = ALLOWLIST if find(annotations, ALLOWLIST.name) is not None else WHITELIST
    limits = RateLimits(
        tuple(client_rates),
        typed_value(annotations, CONNECTIONS, int),
        typed_value(annotations, allowlist, tuple),
        _route_rate(annotations),
    )
    if not (limits.client_rates or limits.connections or limits.route_rate):
        return None
    return limits


def _route_rate(annotations: Mapping[str, str]) -> Rate | None:
    """Higress's bucket: `route-limit-rpm` when set, else `route-limit-rps`."""
    multiplier = typed_value(annotations, ROUTE_BURST, int)
    rpm = typed_value(annotations, ROUTE_RPM, int)
    if rpm:
        return Rate("route", rpm / 60, rpm * multiplier)
    rps = typed_value(annotations, ROUTE_RPS, int)
    if rps:
        return Rate("route", rps, rps * multiplier)
    return None
