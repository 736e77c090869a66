"""Plain dicts (as the API server or a manifest file gives them) to the views of `sources`.

Unknown fields are ignored. A missing or malformed required field becomes a `Problem` naming the
field; when the object cannot be used at all, `convert` returns no view. Nothing here raises on
bad input: a cluster object is data, never a reason to crash.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from routing.certificates import CertificateError, parse_key_pair
from routing.problems import Problem
from routing.sources import (
    PATH_TYPES,
    ClassParameters,
    ConfigMap,
    EndpointPort,
    Endpoints,
    EndpointSlice,
    EndpointSubset,
    Ingress,
    IngressClass,
    IngressPath,
    IngressRule,
    IngressTLS,
    ObjectMeta,
    PathType,
    Secret,
    Service,
    ServiceBackendRef,
    ServicePort,
    SliceEndpoint,
    View,
)

CLUSTER_SCOPED = frozenset({"IngressClass"})
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_HOST_RE = re.compile(rf"^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*$")


class _UnusableObjectError(Exception):
    """Raised inside a converter when the object cannot be used at all."""


@dataclass
class _Reader:
    """Reads fields of one object, recording a problem for each one that is missing or wrong."""

    kind: str
    namespace: str
    name: str
    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, reason: str, severity: str = "error") -> None:
        self.problems.append(
            Problem(self.kind, self.namespace, self.name, path, reason, severity, "InvalidField")  # type: ignore[arg-type]
        )

    def mapping(self, obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, "must be an object")
            raise _UnusableObjectError
        return value

    def items(self, obj: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            self.problem(path, "must be a list of objects")
            raise _UnusableObjectError
        return value

    def string(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool) -> str:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.problem(path, "is required")
                raise _UnusableObjectError
            return ""
        if not isinstance(value, str):
            self.problem(path, "must be a string")
            raise _UnusableObjectError
        return value

    def port(self, value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            self.problem(path, f"{value!r} is not a port number (1-65535)")
            raise _UnusableObjectError
        return value


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, datetime):  # YAML loaders already turn timestamps into datetimes
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def normalise_host(host: str) -> str:
    """Lower case, without a trailing dot: the form hosts are indexed and matched in."""
    return host.strip().lower().rstrip(".")


def _backend(r: _Reader, obj: Mapping[str, Any], path: str) -> ServiceBackendRef:
    if obj.get("resource") is not None:
        r.problem(f"{path}.resource", "resource backends are not supported; use a Service")
        raise _UnusableObjectError
    service = r.mapping(obj, "service", f"{path}.service")
    if not service:
        r.problem(f"{path}.service", "is required")
        raise _UnusableObjectError
    name = r.string(service, "name", f"{path}.service.name", required=True)
    port = r.mapping(service, "port", f"{path}.service.port")
    if port.get("number") is not None:
        return ServiceBackendRef(name, r.port(port["number"], f"{path}.service.port.number"))
    if port.get("name"):
        return ServiceBackendRef(
            name, r.string(port, "name", f"{path}.service.port.name", required=True)
        )
    r.problem(f"{path}.service.port", "needs a number or a name")
    raise _UnusableObjectError


def _host(r: _Reader, raw: str, path: str) -> str:
    host = normalise_host(raw)
    if host and not _HOST_RE.match(host):
        r.problem(path, f"{raw!r} is not a DNS name or a wildcard such as '*.example.com'")
        raise _UnusableObjectError
    return host


def _ingress_path(r: _Reader, obj: Mapping[str, Any], path: str) -> IngressPath:
    value = r.string(obj, "path", f"{path}.path", required=False) or "/"
    if not value.startswith("/"):
        r.problem(f"{path}.path", f"{value!r} must start with '/'")
        raise _UnusableObjectError
    path_type = obj.get("pathType")
    if path_type not in PATH_TYPES:
        r.problem(f"{path}.pathType", f"{path_type!r} is not one of {', '.join(PATH_TYPES)}")
        raise _UnusableObjectError
    backend = _backend(r, r.mapping(obj, "backend", f"{path}.backend"), f"{path}.backend")
    return IngressPath(value, cast(PathType, path_type), backend)


def _ingress(r: _Reader, meta: ObjectMeta, obj: Mapping[str, Any]) -> Ingress:
    spec = r.mapping(obj, "spec", "spec")
    default = None
    if spec.get("defaultBackend") is not None:
        default = _backend(
            r, r.mapping(spec, "defaultBackend", "spec.defaultBackend"), "spec.defaultBackend"
        )
    rules = []
    for i, rule in enumerate(r.items(spec, "rules", "spec.rules")):
        host = _host(
            r,
            r.string(rule, "host", f"spec.rules[{i}].host", required=False),
            f"spec.rules[{i}].host",
        )
        http = r.mapping(rule, "http", f"spec.rules[{i}].http")
        paths = tuple(
            _ingress_path(r, p, f"spec.rules[{i}].http.paths[{j}]")
            for j, p in enumerate(r.items(http, "paths", f"spec.rules[{i}].http.paths"))
        )
        rules.append(IngressRule(host, paths))
    if not rules and default is None:
        r.problem("spec", "has neither rules nor a defaultBackend")
        raise _UnusableObjectError
    tls = tuple(
        IngressTLS(
            tuple(normalise_host(h) for h in t.get("hosts") or () if isinstance(h, str)),
            r.string(t, "secretName", f"spec.tls[{i}].secretName", required=False),
        )
        for i, t in enumerate(r.items(spec, "tls", "spec.tls"))
    )
    class_name = r.string(spec, "ingressClassName", "spec.ingressClassName", required=False)
    return Ingress(meta, class_name or None, default, tuple(rules), tls)


def _ingress_class(r: _Reader, meta: ObjectMeta, obj: Mapping[str, Any]) -> IngressClass:
    spec = r.mapping(obj, "spec", "spec")
    controller = r.string(spec, "controller", "spec.controller", required=True)
    default = (meta.annotations or {}).get(DEFAULT_CLASS_ANNOTATION, "").lower() == "true"
    parameters = None
    if spec.get("parameters") is not None:
        raw = r.mapping(spec, "parameters", "spec.parameters")
        parameters = ClassParameters(
            r.string(raw, "kind", "spec.parameters.kind", required=True),
            r.string(raw, "name", "spec.parameters.name", required=True),
            r.string(raw, "namespace", "spec.parameters.namespace", required=False),
            r.string(raw, "apiGroup", "spec.parameters.apiGroup", required=False),
        )
    return IngressClass(meta, controller, default, parameters)


def _service(r: _Reader, meta: ObjectMeta, obj: Mapping[str, Any]) -> Service:
    spec = r.mapping(obj, "spec", "spec")
    kind = r.string(spec, "type", "spec.type", required=False) or "ClusterIP"
    ports = []
    for i, p in enumerate(r.items(spec, "ports", "spec.ports")):
        number = r.port(p.get("port"), f"spec.ports[{i}].port")
        target = p.get("targetPort", number)
        if not isinstance(target, (int, str)) or isinstance(target, bool) or target == "":
            r.problem(f"spec.ports[{i}].targetPort", f"{target!r} is not a port number or name")
            raise _UnusableObjectError
        ports.append(ServicePort(str(p.get("name") or ""), number, target))
    external = r.string(spec, "externalName", "spec.externalName", required=kind == "ExternalName")
    cluster_ip = r.string(spec, "clusterIP", "spec.clusterIP", required=False)
    return Service(meta, kind, tuple(ports), external or None, cluster_ip or None)


def _endpoint_ports(r: _Reader, obj: Mapping[str, Any], path: str) -> tuple[EndpointPort, ...]:
    return tuple(
        EndpointPort(str(p.get("name") or ""), r.port(p.get("port"), f"{path}[{i}].port"))
        for i, p in enumerate(r.items(obj, "ports", path))
    )


def _endpoint_slice(r: _Reader, meta: ObjectMeta, obj: Mapping[str, Any]) -> EndpointSlice:
    endpoints = []
    for i, e in enumerate(r.items(obj, "endpoints", "endpoints")):
        cond = r.mapping(e, "conditions", f"endpoints[{i}].conditions")
        ready = cond.get("ready") is not False  # nil means ready (API documentation)
        serving = cond.get("serving", ready) is not False
        addresses = tuple(a for a in e.get("addresses") or () if isinstance(a, str))
        endpoints.append(SliceEndpoint(addresses, ready, serving, cond.get("terminating") is True))
    service = (meta.labels or {}).get(SERVICE_NAME_LABEL, "")
    return EndpointSlice(meta, service, _endpoint_ports(r, obj, "ports"), tuple(endpoints))


def _endpoints(r: _Reader, meta: ObjectMeta, obj: Mapping[str, Any]) -> Endpoints:
    subsets = []
    for i, s in enumerate(r.items(obj, "subsets", "subsets")):
        addresses = tuple(
            r.string(a, "ip", f"subsets[{i}].addresses[{j}].ip", required=True)
            for j, a in enumerate(r.items(s, "addresses", f"subsets[{i}].addresses"))
        )
        subsets.append(EndpointSubset(addresses, _endpoint_ports(r, s, f"subsets[{i}].ports")))
    return Endpoints(meta, tuple(subsets))


def _secret(r: _Reader, meta: ObjectMeta, obj: Mapping[str, Any]) -> Secret:
    data: dict[str, bytes] = {}
    for key, value in _string_map(obj.get("data")).items():
        try:
            data[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            r.problem(f"data.{key}", "is not valid base64")
    for key, value in _string_map(obj.get("stringData")).items():
        data[key] = value.encode()
    kind = r.string(obj, "type", "type", required=False) or "Opaque"
    key_pair = None
    if "tls.crt" in data and "tls.key" in data:
        try:
            key_pair = parse_key_pair(data["tls.crt"], data["tls.key"])
        except CertificateError as err:
            r.problem("data", str(err))
            raise _UnusableObjectError from None
    return Secret(meta, kind, data, key_pair)


def _configmap(r: _Reader, meta: ObjectMeta, obj: Mapping[str, Any]) -> ConfigMap:
    return ConfigMap(meta, _string_map(obj.get("data")))


_CONVERTERS: dict[str, Callable[[_Reader, ObjectMeta, Mapping[str, Any]], View]] = {
    "Ingress": _ingress,
    "IngressClass": _ingress_class,
    "Service": _service,
    "EndpointSlice": _endpoint_slice,
    "Endpoints": _endpoints,
    "Secret": _secret,
    "ConfigMap": _configmap,
}
KINDS = frozenset(_CONVERTERS)


@dataclass(frozen=True, slots=True)
class Converted:
    """A view (None when the object is unusable) and the problems found on the way."""

    view: View | None
    problems: tuple[Problem, ...]


def convert(
    obj: Mapping[str, Any], *, position: int = 0, origin: str = "", default_namespace: str = ""
) -> Converted:
    """Convert one object of a kind in `KINDS`; unknown kinds give no view and no problem."""
    kind = obj.get("kind")
    converter = _CONVERTERS.get(kind) if isinstance(kind, str) else None
    if converter is None:
        return Converted(None, ())
    assert isinstance(kind, str)
    raw_meta = obj.get("metadata")
    meta_map: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    namespace = (
        "" if kind in CLUSTER_SCOPED else str(meta_map.get("namespace") or default_namespace)
    )
    name = meta_map.get("name")
    r = _Reader(kind, namespace, name if isinstance(name, str) else "")
    if not isinstance(name, str) or not name:
        r.problem("metadata.name", "is required")
        return Converted(None, tuple(r.problems))
    meta = ObjectMeta(
        kind=kind,
        namespace=namespace,
        name=name,
        uid=str(meta_map.get("uid") or ""),
        resource_version=str(meta_map.get("resourceVersion") or ""),
        creation_timestamp=_timestamp(meta_map.get("creationTimestamp")),
        position=position,
        origin=origin,
        annotations=_string_map(meta_map.get("annotations")),
        labels=_string_map(meta_map.get("labels")),
    )
    try:
        view: View | None = converter(r, meta, obj)
    except _UnusableObjectError:
        view = None
    return Converted(view, tuple(r.problems))
