"""The compiled model: routes, route tables and endpoints. Frozen, built once per compile.

Routes never hold endpoints; they name a `BackendKey` (``namespace/service:port``), and the
`routing.snapshot.Snapshot` that the proxy serves maps each key to the `Endpoint`s behind it.

Every `Route` keeps where it came from (namespace, Ingress name, rule and path index): that is
what metrics labels, the access log, conflict messages and `/debug/routes` show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, NewType

from routing.frozen import Frozen
from routing.problems import Problem

if TYPE_CHECKING:
    from annotations.access import IpRules
    from annotations.affinity import AffinityCookie
    from annotations.balancing import Balancing
    from annotations.body import BodyLimits
    from annotations.canary import Selector
    from annotations.connections import ConnectionPolicy
    from annotations.cors import Cors
    from annotations.matching import Conditions
    from annotations.mirror import MirrorUrl
    from annotations.ratelimit import RateLimits
    from annotations.redirect import Redirects
    from annotations.retries import Retries
    from annotations.timeouts import Timeouts
    from routing.auth import RouteAuth
    from routing.headers import HeaderPolicy
    from routing.podtls import PodTls

BackendKey = NewType("BackendKey", str)
"""``namespace/service:port`` where port is the number or name the Ingress used."""

MatchKind = Literal["exact", "prefix", "regex"]


CLUSTER_IP_SUFFIX = "@cluster-ip"
"""Ends the key of a backend reached through the Service's cluster IP (`service-upstream`)."""


def backend_key(
    namespace: str, service: str, port: int | str, *, cluster_ip: bool = False
) -> BackendKey:
    """The key routes use to refer to a Service port (through its cluster IP, when asked)."""
    suffix = CLUSTER_IP_SUFFIX if cluster_ip else ""
    return BackendKey(f"{namespace}/{service}:{port}{suffix}")


@dataclass(frozen=True, slots=True)
class Rewrite(Frozen):
    """How the upstream path is made from the request path (`routing.rewrite`).

    `rewrite-target`: the whole path is replaced by `target`, `$n` from `pattern`'s groups.
    `rewrite-path` (`keep_rest`): what `pattern` matches at the start is replaced by `target`
    and the rest of the path follows.
    """

    pattern: re.Pattern[str]
    target: str
    keep_rest: bool = False


@dataclass(frozen=True, slots=True)
class CanaryBackend(Frozen):
    """A canary Ingress's Service attached to a primary route, and when it is chosen."""

    namespace: str
    ingress: str
    service: str
    port: int | str
    backend: BackendKey
    field: str
    """Where in the canary Ingress this backend was written, for messages."""
    header: Selector | None = None
    query: Selector | None = None
    cookie: Selector | None = None
    share: float = 0.0
    """Probability of being chosen by weight, after the route's canaries were normalised."""
    balancing: Balancing | None = None
    """The canary Ingress's own `load-balance` / `upstream-hash-by` (ingress-nginx keeps them
    for the canary's backend); None means round robin."""
    affinity: AffinityCookie | None = None
    """Sticky sessions on the canary's backend (its own, or the primary's: §3.1)."""

    @property
    def service_field(self) -> str:
        """Where in its Ingress the Service of this canary is named."""
        if self.field == "spec.defaultBackend":
            return "spec.defaultBackend.service"
        return f"{self.field}.backend.service"


FIRST_PORT = ""
"""The port of a `default-backend` Service: its first port, whatever its number or name."""


@dataclass(frozen=True, slots=True)
class NamedService(Frozen):
    """A Service that an annotation names, besides the Ingress's own backends."""

    namespace: str
    ingress: str
    """The Ingress whose annotation named it (metrics and log labels)."""
    service: str
    backend: BackendKey
    field: str
    """The annotation key, for messages."""
    port: int | str = FIRST_PORT

    @property
    def service_field(self) -> str:
        """Where the Service was named."""
        return f"metadata.annotations[{self.field}]"


@dataclass(frozen=True, slots=True)
class Fallback(NamedService):
    """A route's `default-backend`: where requests go when the route's Service has no ready
    endpoint, and who answers for `custom-http-errors`."""


@dataclass(frozen=True, slots=True)
class MirrorService(NamedService):
    """A route's Higress `mirror-target-service`, reached through its endpoints."""


@dataclass(frozen=True, slots=True)
class RouteMirror(Frozen):
    """Where a route's requests are copied (`annotations.mirror`); one of `url` and `service`."""

    url: MirrorUrl | None
    service: MirrorService | None
    host: str | None
    """`mirror-host`: the copies' `Host`, over the default of each form."""
    request_body: bool
    percentage: int


@dataclass(frozen=True, slots=True)
class Route(Frozen):
    """One servable (host, path) pair and what to do with matching requests."""

    host: str
    """Lower-case host, ``*.example.com`` for a wildcard, "" for any host."""
    path: str
    """The path as written in the Ingress ("/" for a `spec.defaultBackend` route)."""
    match: MatchKind
    namespace: str
    ingress: str
    service: str
    port: int | str
    """The Service port number or name the Ingress named."""
    backend: BackendKey
    rule: int
    """Index in `spec.rules`, -1 for `spec.defaultBackend`."""
    index: int
    """Index in `spec.rules[rule].http.paths`, -1 for `spec.defaultBackend`."""
    rewrite: Rewrite | None = None
    location: re.Pattern[str] | None = None
    """For regex routes: the start-anchored, case-insensitive location pattern."""
    canaries: tuple[CanaryBackend, ...] = ()
    """Canary backends sharing this route's traffic, oldest canary Ingress first."""
    redirects: Redirects | None = None
    """Redirects the gateway answers itself for this route (`routing.redirect`)."""
    headers: HeaderPolicy | None = None
    """Header changes for this route's requests and responses (`routing.headers`)."""
    ignore_case: bool = False
    """Exact and Prefix paths compared without regard to case (`ignore-path-case`)."""
    fallback: Fallback | None = None
    """The Ingress's `default-backend`, if it names one."""
    error_codes: frozenset[int] = frozenset()
    """`custom-http-errors`: upstream statuses answered by the fallback instead."""
    balancing: Balancing | None = None
    """`load-balance` / `upstream-hash-by`; None means round robin."""
    affinity: AffinityCookie | None = None
    """`affinity: cookie`: sticky sessions on this route's backend."""
    timeouts: Timeouts | None = None
    """Per-Ingress upstream timeouts; None means the global settings."""
    retries: Retries | None = None
    """Per-Ingress `proxy-next-upstream*`; None means the global settings."""
    body: BodyLimits | None = None
    """Per-Ingress `proxy-body-size` / `client-body-buffer-size`; None: the global ones."""
    limits: RateLimits | None = None
    """`limit-*` and `route-limit-*` (`annotations.ratelimit`); None: unlimited."""
    mirror: RouteMirror | None = None
    """Where copies of this route's requests go; None: nowhere."""
    connections: ConnectionPolicy | None = None
    """MSE's limits on connections to this route's Service; None: none."""
    conditions: Conditions | None = None
    """Method, header and query conditions a request must also meet (`annotations.matching`);
    part of the route's identity, so routes may share a path when these differ."""
    access: IpRules | None = None
    """Allow and deny lists of the Ingress, over those of its host (`annotations.access`);
    None: the ConfigMap's lists."""
    auth: RouteAuth | None = None
    """`auth-type` / `satisfy`: what the request must show besides passing the IP lists."""
    cors: Cors | None = None
    """`enable-cors`: CORS headers and preflight answers for allowed origins."""
    pod_tls: PodTls | None = None
    """`backend-protocol: HTTPS`: TLS towards the pods (`routing.podtls`); None: plain HTTP."""
    tls: bool = False
    """The host has TLS (a served Ingress names it in `spec.tls`): `ssl-redirect` applies."""

    @property
    def is_default_backend(self) -> bool:
        """True for the route made from an Ingress's `spec.defaultBackend`."""
        return self.rule < 0

    @property
    def field(self) -> str:
        """Where in its Ingress this route was written, for messages."""
        if self.is_default_backend:
            return "spec.defaultBackend"
        return f"spec.rules[{self.rule}].http.paths[{self.index}]"

    @property
    def service_field(self) -> str:
        """Where in its Ingress the Service of this route is named."""
        if self.is_default_backend:
            return "spec.defaultBackend.service"
        return f"{self.field}.backend.service"


class Endpoint(NamedTuple):
    """A pod address (or, for an ExternalName Service, a DNS name) and port.

    A named tuple rather than a dataclass because endpoint sets are what changes most often,
    and each change is compared, pickled and rebuilt in every worker (`routing.delta`): tuples
    compare, hash and rebuild in C. A rollout of 10,000 Services went from 90 ms of that work
    to 40 ms."""

    address: str
    port: int
    is_dns: bool = False

    @property
    def hostport(self) -> str:
        """``ip:port``, ``[v6]:port`` or ``name:port``."""
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class RouteTable(Frozen):
    """Every route in precedence order, grouped by host, and the problems met compiling them."""

    routes: tuple[Route, ...]
    problems: tuple[Problem, ...]
    digest: str
    ingresses: frozenset[tuple[str, str]] = frozenset()
    """(namespace, name) of every accepted Ingress of our class, canaries and losers included:
    the Ingresses whose status this gateway writes."""
    aliases: tuple[tuple[str, str], ...] = ()
    """(alias, host) pairs from `server-alias`: the alias is served by the host's routes."""
