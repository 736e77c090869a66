"""Synthetic clusters for the micro-benchmarks: N Ingresses shaped like a real multi-tenant
cluster (a few hundred hosts, Prefix and Exact paths, some regex Ingresses, Services with
EndpointSlices)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _backend(service: str) -> Obj:
    return {"service": {"name": service, "port": {"number": 80}}}


def cluster(n: int, *, endpoint_generation: int = 0) -> list[Obj]:
    """`n` Ingresses, one Service and EndpointSlice each; `endpoint_generation` moves pod IPs."""
    objects: list[Obj] = []
    for i in range(n):
        host = f"tenant{i % 500}.example.com"
        paths = [
            {"path": f"/svc{i}", "pathType": "Prefix", "backend": _backend(f"svc{i}")},
            {"path": f"/svc{i}/health", "pathType": "Exact", "backend": _backend(f"svc{i}")},
        ]
        annotations = {}
        if i % 50 == 0:
            annotations = {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}
            paths.append(
                {
                    "path": f"/re{i}(/|$)(.*)",
                    "pathType": "ImplementationSpecific",
                    "backend": _backend(f"svc{i}"),
                }
            )
        objects.append(
            {
                "kind": "Ingress",
                "metadata": {
                    "name": f"ing{i}",
                    "namespace": f"ns{i % 100}",
                    "annotations": annotations,
                    "creationTimestamp": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
                },
                "spec": {
                    "ingressClassName": "gateway",
                    "rules": [{"host": host, "http": {"paths": paths}}],
                },
            }
        )
        objects.append(
            {
                "kind": "Service",
                "metadata": {"name": f"svc{i}", "namespace": f"ns{i % 100}"},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            }
        )
        third = (i + endpoint_generation) % 250
        objects.append(
            {
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"svc{i}-abcde",
                    "namespace": f"ns{i % 100}",
                    "labels": {"kubernetes.io/service-name": f"svc{i}"},
                },
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080}],
                "endpoints": [
                    {"addresses": [f"10.{i % 200}.{third}.{k}"], "conditions": {"ready": True}}
                    for k in range(1, 4)
                ],
            }
        )
    return objects
