"""The compiler: cluster state → `Snapshot`. Pure and deterministic.

Steps, in order:
1. keep the Ingresses of our class (`routing.classes`);
2. order them as ingress-nginx does: creationTimestamp ascending, ties by namespace/name
   descending; in file mode an object without a timestamp takes its file position as its age;
3. expand rules and paths into routes; a (host, match kind, path, conditions) already claimed
   by an older Ingress is a conflict: the older one wins and the loser becomes a problem naming
   both. Canary Ingresses create no routes and take no part in conflicts. With the
   `host-wide-regex` setting, every path of a host where some Ingress is in regex mode is a
   regex route (ingress-nginx's behaviour);
4. `spec.defaultBackend`: for an Ingress without rules it is the default of the any-host virtual
   host (the oldest one wins); with rules, the default of each host this Ingress defined first
   (reference §4.4, ingress-nginx's behaviour); then `from-to-www-redirect` adds a redirecting
   catch-all for the other spelling of a host that no rule serves;
5. canary Ingresses, oldest first, attach to the route with the same host, path and pathType
   (their `spec.defaultBackend` to the default route of their hosts); a rule with no such route
   is a warning. Each route's weights are then normalised;
6. sort each host's routes in precedence order and build the `Matcher`;
7. resolve the endpoints of every backend the routes (and their canaries and default
   backends) name.

Steps 3-6 are `routing.table`; this module selects, orders, resolves and assembles.

Steps 1-6 depend only on Ingresses, IngressClasses, ConfigMaps (`custom-headers`), settings and
the `host-wide-regex` global setting.
When those are unchanged since the previous snapshot, its route table and matcher are reused
and only step 7 runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from routing.admission import AdmittedIngress
from routing.classes import ClassSelector, ClassSettings
from routing.digest import (
    config_digest,
    endpoints_digest,
    problems_digest,
    routes_digest,
    snapshot_digest,
)
from routing.endpoints import EndpointIndex, Resolution
from routing.globals import GlobalConfig, parse_global_config
from routing.match import Matcher
from routing.model import (
    CLUSTER_IP_SUFFIX,
    BackendKey,
    CanaryBackend,
    Endpoint,
    Fallback,
    MirrorService,
    Route,
    RouteTable,
)
from routing.problems import Problem
from routing.references import global_configmap
from routing.snapshot import Snapshot
from routing.sources import ConfigMap, IngressClass, Secret
from routing.state import ClusterState
from routing.table import build_table, ingress_order
from routing.tls import build_tls


@dataclass(frozen=True, slots=True)
class CompileSettings:
    """Global settings that change what the compiler produces."""

    classes: ClassSettings = field(default_factory=ClassSettings)
    configmap: tuple[str, str] | None = None
    """(namespace, name) of the global-settings ConfigMap (`--configmap`)."""
    default_certificate: tuple[str, str] | None = None
    """(namespace, name) of the TLS Secret served to unknown names (`--default-ssl-certificate`)."""
    own_namespace: str = "ingress-gateway"
    """The gateway's namespace: where our IngressClass's parameters ConfigMap is looked up
    when the class does not say (servers before Kubernetes 1.21 have no such field)."""

    def global_configmap(self, classes: Iterable[IngressClass]) -> tuple[str, str] | None:
        """(namespace, name) of the global-settings ConfigMap in effect, if any."""
        return global_configmap(self.configmap, classes, self.classes, self.own_namespace)


def compile_routes(
    ingresses: Sequence[AdmittedIngress],
    classes: Sequence[IngressClass],
    settings: CompileSettings,
    configmaps: Sequence[ConfigMap] = (),
    host_wide_regex: bool = False,
    secrets: Sequence[Secret] = (),
) -> tuple[RouteTable, Matcher]:
    """Steps 1-6: the route table and its matcher (`configmaps` for `custom-headers`,
    `secrets` for `auth-secret`;
    `host_wide_regex` from the global setting of that name)."""
    selector = ClassSelector(classes, settings.classes)
    ours = ingress_order(a for a in ingresses if selector.is_ours(a.source))
    parts = build_table(ours, configmaps, host_wide_regex, secrets)
    served = frozenset((a.source.meta.namespace, a.source.meta.name) for a in ours)
    digest = snapshot_digest(
        routes_digest(parts.routes),
        *sorted(f"{ns}/{name}" for ns, name in served),
        *(f"{alias}={host}" for alias, host in parts.aliases),
    )
    table = RouteTable(parts.routes, parts.problems, digest, served, parts.aliases)
    return table, Matcher(parts.routes, parts.aliases)


def _resolve(
    state: ClusterState, routes: Sequence[Route]
) -> tuple[dict[BackendKey, tuple[Endpoint, ...]], list[Problem]]:
    """Step 6: endpoints per backend key, and a warning per Ingress naming a missing Service."""
    index = EndpointIndex(state.services, state.endpoint_slices, state.endpoints)
    resolutions: dict[BackendKey, Resolution] = {}
    problems: dict[tuple[str, str, BackendKey], Problem] = {}
    targets: list[Route | CanaryBackend | Fallback | MirrorService] = []
    for route in routes:
        targets.append(route)
        targets.extend(route.canaries)
        if route.fallback is not None:
            targets.append(route.fallback)
        if route.mirror is not None and route.mirror.service is not None:
            targets.append(route.mirror.service)
    for target in targets:
        resolution = resolutions.get(target.backend)
        if resolution is None:
            resolution = index.resolve(
                target.namespace,
                target.service,
                target.port,
                cluster_ip=target.backend.endswith(CLUSTER_IP_SUFFIX),
            )
            resolutions[target.backend] = resolution
        if resolution.note is not None:
            _warn_once(problems, target, f"{resolution.note} (service-upstream)", "NoClusterIP")
        if resolution.missing is not None:
            if isinstance(target, Route):
                consequence = "requests to this path get 503"
            elif isinstance(target, Fallback):
                consequence = "the default backend is not used"
            elif isinstance(target, MirrorService):
                consequence = "requests are not mirrored"
            else:
                consequence = "requests chosen for this canary go to the primary Service"
            reason = f"{resolution.missing}; {consequence}"
            _warn_once(problems, target, reason, "MissingService")
    endpoints = {key: r.endpoints for key, r in resolutions.items()}
    return endpoints, list(problems.values())


def _warn_once(
    problems: dict[tuple[str, str, BackendKey], Problem],
    target: Route | CanaryBackend | Fallback | MirrorService,
    reason: str,
    code: str,
) -> None:
    """One warning per Ingress and backend, on the field that names the Service."""
    problems.setdefault(
        (target.namespace, target.ingress, target.backend),
        Problem(
            "Ingress",
            target.namespace,
            target.ingress,
            target.service_field,
            reason,
            "warning",
            code,
        ),
    )


def compile_snapshot(
    state: ClusterState,
    settings: CompileSettings | None = None,
    previous: Snapshot | None = None,
) -> Snapshot:
    """Compile a whole snapshot, reusing `previous`'s route table and certificate table when
    their inputs are equal (endpoint-only changes rebuild neither)."""
    settings = settings or CompileSettings()
    config, config_problems = _global_config(state, settings, previous)
    custom = _header_configmaps(state)
    users = _auth_secrets(state)
    host_wide = config.host_wide_regex
    route_inputs = (state.ingresses, state.ingress_classes, settings, custom, host_wide, users)
    last = previous.inputs if previous is not None else None
    if not isinstance(last, _Inputs):
        last = None
    if previous is not None and last is not None and last.routes == route_inputs:
        table, matcher = previous.table, previous.matcher
    else:
        table, matcher = compile_routes(
            state.ingresses, state.ingress_classes, settings, custom, host_wide, users
        )
    endpoints, endpoint_problems = _resolve(state, table.routes)
    inputs = _Inputs(route_inputs, table, state.secrets, settings.default_certificate)
    if previous is not None and last is not None and last.same_certificates(inputs):
        tls, secret_problems = previous.tls, last.tls_problems
    else:
        served = ingress_order(
            a
            for a in state.ingresses
            if (a.source.meta.namespace, a.source.meta.name) in table.ingresses
        )
        tls, problems_found = build_tls(served, state.secrets, settings.default_certificate)
        secret_problems = tuple(problems_found)
    inputs = replace(inputs, tls_problems=secret_problems)
    problems = tuple(
        sorted(
            {
                *state.problems,
                *table.problems,
                *endpoint_problems,
                *config_problems,
                *secret_problems,
            }
        )
    )
    digest = snapshot_digest(
        table.digest,
        endpoints_digest(endpoints),
        problems_digest(problems),
        config_digest(config),
        tls.digest,
    )
    return Snapshot(table, matcher, endpoints, config, problems, digest, tls, inputs)


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a snapshot was compiled from, so that the next compile can reuse its parts."""

    routes: tuple[object, ...]
    table: RouteTable
    secrets: tuple[Secret, ...]
    default_certificate: tuple[str, str] | None
    tls_problems: tuple[Problem, ...] = ()

    def same_certificates(self, new: _Inputs) -> bool:
        """Whether `new` would build the same certificate table (same served Ingresses in the
        very same route table, same Secrets)."""
        return (
            self.table is new.table
            and self.default_certificate == new.default_certificate
            and self.secrets == new.secrets
        )


def _header_configmaps(state: ClusterState) -> tuple[ConfigMap, ...]:
    """The ConfigMaps some Ingress names in `custom-headers` or `auth-proxy-set-headers`: the
    only ones routes depend on, so that an edit of the global ConfigMap does not recompile the
    route table."""

    def refs(admitted: AdmittedIngress) -> Iterable[ObjectRef | None]:
        control, external = admitted.config.headers, admitted.config.extauth
        yield control.custom_headers if control is not None else None
        yield external.proxy_set_headers if external is not None else None

    return _named(state.configmaps, state, refs)


def _auth_secrets(state: ClusterState) -> tuple[Secret, ...]:
    """The Secrets some Ingress names in `auth-secret` or `proxy-ssl-secret`: the only ones
    routes depend on, so that a TLS Secret's rotation does not recompile the route table."""

    def refs(admitted: AdmittedIngress) -> Iterable[ObjectRef | None]:
        auth, pods = admitted.config.auth, admitted.config.upstreamtls
        yield auth.basic.secret if auth is not None and auth.basic is not None else None
        yield pods.secret if pods is not None else None

    return _named(state.secrets, state, refs)


ObjectRef = tuple[str | None, str]
"""An object an annotation names: (namespace or None for the Ingress's, name)."""
_Named = TypeVar("_Named", ConfigMap, Secret)


def _named(
    objects: Sequence[_Named],
    state: ClusterState,
    refs: Callable[[AdmittedIngress], Iterable[ObjectRef | None]],
) -> tuple[_Named, ...]:
    """The `objects` that some Ingress's annotations name (`refs`), in their order."""
    named = {
        (ref[0] or admitted.source.meta.namespace, ref[1])
        for admitted in state.ingresses
        for ref in refs(admitted)
        if ref is not None
    }
    if not named:
        return ()
    return tuple(o for o in objects if (o.meta.namespace, o.meta.name) in named)


def _global_config(
    state: ClusterState, settings: CompileSettings, previous: Snapshot | None
) -> tuple[GlobalConfig, tuple[Problem, ...]]:
    """The ConfigMap's settings over the defaults; invalid keys keep their previous value."""
    before = previous.config if previous is not None else GlobalConfig()
    source = settings.global_configmap(state.ingress_classes)
    if source is None:
        return GlobalConfig(), ()
    namespace, name = source
    for configmap in state.configmaps:
        if (configmap.meta.namespace, configmap.meta.name) == (namespace, name):
            return parse_global_config(configmap.data, before, source=(namespace, name))
    return GlobalConfig(), ()
