"""Builders of cluster objects as plain dicts, the shape the API server returns, and a helper
that compiles them through the real store and compiler."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.control.store import Store
from routing.classes import ClassSettings
from routing.compile import CompileSettings, compile_snapshot
from routing.convert import convert
from routing.problems import Problem
from routing.snapshot import Snapshot

Obj = dict[str, Any]


@dataclass
class RequestStub:
    """What route conditions read from a request: method, headers (lower-case names), query."""

    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def query(self, name: str) -> str | None:
        return self.args.get(name)


def backend(service: str, port: int | str = 80) -> Obj:
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": service, "port": {key: port}}}


def path(value: str, path_type: str = "Prefix", service: str = "svc", port: int | str = 80) -> Obj:
    return {"path": value, "pathType": path_type, "backend": backend(service, port)}


def rule(host: str | None, *paths: Obj) -> Obj:
    out: Obj = {"http": {"paths": list(paths)}}
    if host is not None:
        out["host"] = host
    return out


def ingress(
    name: str,
    *rules: Obj,
    namespace: str = "default",
    annotations: Mapping[str, str] | None = None,
    class_name: str | None = "gateway",
    created: str | None = None,
    default_backend: Obj | None = None,
    resource_version: str = "",
) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, "annotations": dict(annotations or {})}
    if created:
        meta["creationTimestamp"] = created
    if resource_version:
        meta["resourceVersion"] = resource_version
        meta["uid"] = f"uid-{namespace}-{name}"
    spec: Obj = {"rules": list(rules)}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def service(
    name: str,
    *ports: tuple[str, int, int | str],
    namespace: str = "default",
    type_: str = "ClusterIP",
    external_name: str | None = None,
) -> Obj:
    spec: Obj = {
        "type": type_,
        "ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in ports],
    }
    if external_name:
        spec["externalName"] = external_name
    return {"kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def endpoint_slice(
    name: str,
    service_name: str,
    ports: Iterable[tuple[str, int]],
    endpoints: Iterable[tuple[str, Mapping[str, bool]]],
    namespace: str = "default",
) -> Obj:
    return {
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": n, "port": p} for n, p in ports],
        "endpoints": [{"addresses": [a], "conditions": dict(c)} for a, c in endpoints],
    }


def endpoints(
    name: str, ips: Iterable[str], ports: Iterable[tuple[str, int]], namespace: str = "default"
) -> Obj:
    return {
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace},
        "subsets": [
            {
                "addresses": [{"ip": ip} for ip in ips],
                "ports": [{"name": n, "port": p} for n, p in ports],
            }
        ],
    }


def ingress_class(name: str, controller: str, *, default: bool = False) -> Obj:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "kind": "IngressClass",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"controller": controller},
    }


def load(store: Store, objects: Iterable[Obj]) -> None:
    """Feed objects to the store, one position each, as the file source does."""
    items = []
    for position, obj in enumerate(objects, start=1):
        converted = convert(obj, position=position, default_namespace="default")
        meta = obj.get("metadata", {})
        key = (
            converted.view.meta.key
            if converted.view
            else (obj["kind"], meta.get("namespace", "default"), meta.get("name", ""))
        )
        items.append((key, converted.view, converted.problems))
    store.replace_all(items)


def compile_objects(
    objects: Iterable[Obj],
    classes: ClassSettings | None = None,
    previous: Snapshot | None = None,
    configmap: tuple[str, str] | None = None,
    default_certificate: tuple[str, str] | None = None,
) -> Snapshot:
    """Compile manifests as file mode does; `configmap` names the global-settings ConfigMap."""
    store = Store()
    load(store, objects)
    settings = CompileSettings(
        classes=classes or ClassSettings(),
        configmap=configmap,
        default_certificate=default_certificate,
    )
    return compile_snapshot(store.state(), settings, previous)


def route_of(snapshot: Snapshot, host: str, request_path: str) -> str | None:
    """``namespace/ingress path`` of the route serving a request, or None (404)."""
    from routing.paths import normalise_request_path, request_host

    normalised = normalise_request_path(request_path)
    assert normalised is not None
    route = snapshot.matcher.match(request_host(host), normalised)
    if route is None:
        return None
    return (
        f"{route.ingress} {route.path}"
        if not route.is_default_backend
        else f"{route.ingress} default"
    )


def problems(snapshot: Snapshot) -> list[Problem]:
    """The problems, less the missing-Service warnings of tests that define no Service."""
    return [p for p in snapshot.problems if "does not exist; requests" not in p.reason]
