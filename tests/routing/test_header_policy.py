"""Which ConfigMaps the route table depends on: only those `custom-headers` names."""

from __future__ import annotations

from tests.objects import compile_objects, ingress, path, rule

N = "nginx.ingress.kubernetes.io/"


def configmap(name: str, data: dict[str, str]) -> dict:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data}


def objects(headers: dict[str, str], other: dict[str, str]) -> list[dict]:
    return [
        ingress(
            "shop", rule("shop.test", path("/")), annotations={N + "custom-headers": "headers"}
        ),
        configmap("headers", headers),
        configmap("unrelated", other),
    ]


def test_unrelated_configmap_change_reuses_the_route_table() -> None:
    first = compile_objects(objects({"X-A": "1"}, {"k": "1"}))
    second = compile_objects(objects({"X-A": "1"}, {"k": "2"}), previous=first)
    assert second.table is first.table


def test_custom_headers_configmap_change_recompiles_the_routes() -> None:
    first = compile_objects(objects({"X-A": "1"}, {"k": "1"}))
    second = compile_objects(objects({"X-A": "2"}, {"k": "1"}), previous=first)
    assert second.table is not first.table
    [route] = second.table.routes
    assert route.headers is not None and route.headers.response_lines == b"X-A: 2\r\n"
