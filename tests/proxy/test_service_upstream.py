"""`service-upstream` through a running gateway (issue 6 group 10)."""

from __future__ import annotations

from typing import Any

from tests.objects import compile_objects, ingress, path, rule
from tests.proxy.harness import exchange, get

N = "nginx.ingress.kubernetes.io/"


def objects(cluster_ip: str, service_port: int, pod_port: int, upstream: bool) -> list[Any]:
    """An Ingress to Service `app`, whose ClusterIP:port and pod are different listeners."""
    annotations = {N + "service-upstream": "true"} if upstream else {}
    return [
        ingress(
            "app",
            rule("svc.test", path("/", service="app", port=service_port)),
            annotations=annotations,
        ),
        {
            "kind": "Service",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {
                "clusterIP": cluster_ip,
                "ports": [{"name": "http", "port": service_port, "targetPort": 8080}],
            },
        },
        {
            "kind": "EndpointSlice",
            "metadata": {
                "name": "app-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "app"},
            },
            "ports": [{"name": "http", "port": pod_port}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        },
    ]


async def test_requests_go_to_the_cluster_ip_instead_of_the_pods(upstreams, gateway) -> None:
    service, pod = await upstreams(), await upstreams()
    doc = {"kind": "List", "items": objects("127.0.0.1", service.port, pod.port, upstream=True)}
    gw = await gateway(doc)
    [resp] = await exchange(gw.port, get("svc.test"))
    assert resp.status == 200 and len(service.requests) == 1 and pod.requests == []
    await gw.update({"kind": "List", "items": objects("127.0.0.1", service.port, pod.port, False)})
    [resp] = await exchange(gw.port, get("svc.test"))
    assert resp.status == 200 and len(pod.requests) == 1


def test_a_service_without_cluster_ip_uses_its_endpoints_with_a_warning() -> None:
    snapshot = compile_objects(objects("None", 80, 8080, upstream=True))
    [route] = snapshot.table.routes
    assert route.backend == "default/app:80@cluster-ip"
    assert [e.hostport for e in snapshot.endpoints[route.backend]] == ["127.0.0.1:8080"]
    [problem] = [p for p in snapshot.problems if p.code == "NoClusterIP"]
    assert "has no ClusterIP" in problem.reason and problem.name == "app"
    snapshot = compile_objects(objects("10.96.0.10", 80, 8080, upstream=True))
    [route] = snapshot.table.routes
    assert [e.hostport for e in snapshot.endpoints[route.backend]] == ["10.96.0.10:80"]
    assert not [p for p in snapshot.problems if p.code == "NoClusterIP"]
