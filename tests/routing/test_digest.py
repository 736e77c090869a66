"""Digest stability and the endpoint-only fast path (DESIGN.md invariant 2)."""

from __future__ import annotations

import random

from gateway.control.store import Store
from routing.compile import compile_snapshot
from tests.objects import compile_objects, endpoint_slice, ingress, load, path, rule, service

READY = {"ready": True}


def _objects(ip: str = "10.0.0.1") -> list[dict[str, object]]:
    return [
        ingress("a", rule("a.test", path("/", service="web")), created="2024-01-01T00:00:00Z"),
        ingress("b", rule("b.test", path("/api", service="api")), created="2024-01-02T00:00:00Z"),
        service("web", ("", 80, 8080)),
        service("api", ("", 80, 8080)),
        endpoint_slice("web-1", "web", [("", 8080)], [(ip, READY), ("10.0.0.2", READY)]),
        endpoint_slice("api-1", "api", [("", 8080)], [("10.0.1.1", READY)]),
    ]


def _digest(objects: list[dict[str, object]]) -> str:
    store = Store()
    load(store, objects)
    return compile_snapshot(store.state()).digest


def test_same_objects_in_any_order_give_the_same_digest() -> None:
    objects = _objects()
    reference = _digest(objects)
    rng = random.Random(7)
    for _ in range(10):
        shuffled = objects[:]
        rng.shuffle(shuffled)
        assert _digest(shuffled) == reference


def test_any_change_changes_the_digest() -> None:
    assert _digest(_objects()) != _digest(_objects(ip="10.0.0.9"))
    changed_route = _objects()
    changed_route[0] = ingress(
        "a", rule("a.test", path("/x", service="web")), created="2024-01-01T00:00:00Z"
    )
    assert _digest(_objects()) != _digest(changed_route)


def test_endpoint_only_change_reuses_route_table_and_matcher() -> None:
    store = Store()
    load(store, _objects())
    first = compile_snapshot(store.state())
    load(store, _objects(ip="10.0.0.9"))
    second = compile_snapshot(store.state(), previous=first)
    assert second.table is first.table
    assert second.matcher is first.matcher
    assert second.digest != first.digest
    assert [e.address for e in second.endpoints[first.table.routes[0].backend]] == [
        "10.0.0.2",
        "10.0.0.9",
    ]


def test_ingress_change_rebuilds_the_route_table() -> None:
    store = Store()
    load(store, _objects())
    first = compile_snapshot(store.state())
    objects = _objects()
    objects[1] = ingress(
        "b", rule("b.test", path("/v2", service="api")), created="2024-01-02T00:00:00Z"
    )
    load(store, objects)
    second = compile_snapshot(store.state(), previous=first)
    assert second.table is not first.table
    assert [r.path for r in second.table.routes] == ["/", "/v2"]


def test_unchanged_state_gives_an_equal_digest() -> None:
    store = Store()
    load(store, _objects())
    first = compile_snapshot(store.state())
    load(store, _objects())
    assert compile_snapshot(store.state(), previous=first).digest == first.digest


# One annotation value per route field that annotations set: changing any of them must change
# the route digest, or the reconciler would never swap the change in.
ANNOTATED = {
    "nginx.ingress.kubernetes.io/rewrite-target": "/x",
    "nginx.ingress.kubernetes.io/permanent-redirect": "https://a.test/",
    "nginx.ingress.kubernetes.io/upstream-vhost": "a.internal",
    "higress.io/match-method": "GET",
    "nginx.ingress.kubernetes.io/default-backend": "errors",
    "nginx.ingress.kubernetes.io/custom-http-errors": "404",
    "nginx.ingress.kubernetes.io/load-balance": "ewma",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "5",
    "higress.io/ignore-path-case": "true",
    "nginx.ingress.kubernetes.io/affinity": "cookie",
    "nginx.ingress.kubernetes.io/proxy-next-upstream": "error",
    "nginx.ingress.kubernetes.io/proxy-body-size": "1k",
    "nginx.ingress.kubernetes.io/service-upstream": "false",
}
CHANGED = {
    "nginx.ingress.kubernetes.io/rewrite-target": "/y",
    "nginx.ingress.kubernetes.io/permanent-redirect": "https://b.test/",
    "nginx.ingress.kubernetes.io/upstream-vhost": "b.internal",
    "higress.io/match-method": "POST",
    "nginx.ingress.kubernetes.io/default-backend": "other",
    "nginx.ingress.kubernetes.io/custom-http-errors": "503",
    "nginx.ingress.kubernetes.io/load-balance": "random",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "6",
    "higress.io/ignore-path-case": "false",
    "nginx.ingress.kubernetes.io/affinity-mode": "persistent",
    "nginx.ingress.kubernetes.io/proxy-next-upstream": "error http_503",
    "nginx.ingress.kubernetes.io/proxy-body-size": "2k",
    "nginx.ingress.kubernetes.io/service-upstream": "true",
}


def _table_digest(annotations: dict[str, str]) -> str:
    store = Store()
    load(store, [ingress("a", rule("a.test", path("/p")), annotations=annotations)])
    return compile_snapshot(store.state()).table.digest


def _snapshot_digest() -> str:
    """A snapshot whose global settings hold a set (`proxy-next-upstream`)."""
    snapshot = compile_objects(
        [
            ingress("a", rule("a.test", path("/p"))),
            {
                "kind": "ConfigMap",
                "metadata": {"name": "cfg", "namespace": "default"},
                "data": {"proxy-next-upstream": "error timeout http_502 http_503 http_504"},
            },
        ],
        configmap=("default", "cfg"),
    )
    return snapshot.digest


def test_every_annotated_route_field_is_in_the_digest() -> None:
    reference = _table_digest(ANNOTATED)
    for key, value in CHANGED.items():
        assert _table_digest({**ANNOTATED, key: value}) != reference, key


def test_route_digest_is_the_same_in_every_process() -> None:
    """Sets (of header names, of retry conditions in the global settings) are hash-ordered,
    and the order varies by process: the digests sort them."""
    import subprocess
    import sys

    code = (
        "from tests.routing.test_digest import _table_digest;"
        "print(_table_digest({'mse.ingress.kubernetes.io/request-header-control-remove':"
        " 'a,b,c,d,e,f,g,h'}));"
        "from tests.routing.test_digest import _snapshot_digest; print(_snapshot_digest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": str(seed), "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(digests) == 1
