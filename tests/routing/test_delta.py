"""Endpoint deltas: what the supervisor ships to workers when only endpoints changed."""

from __future__ import annotations

import pickle

import pytest

from routing.delta import DeltaMismatch, apply_delta, endpoint_delta
from routing.model import BackendKey, Endpoint
from tests.objects import compile_objects, endpoint_slice, ingress, path, rule, service

READY = {"ready": True}


def _cluster(web_pods: list[str], *, api: bool = True, host: str = "h") -> list[dict[str, object]]:
    objects = [
        ingress("i", rule(host, path("/", service="web"), path("/api", service="api"))),
        service("web", ("http", 80, 8080)),
        endpoint_slice("web-1", "web", [("http", 8080)], [(ip, READY) for ip in web_pods]),
    ]
    if api:
        objects += [
            service("api", ("http", 80, 8080)),
            endpoint_slice("api-1", "api", [("http", 8080)], [("10.0.1.1", READY)]),
        ]
    return objects


def test_moved_pods_ship_only_their_backend_and_rebuild_the_same_snapshot() -> None:
    base = compile_objects(_cluster(["10.0.0.1", "10.0.0.2"]))
    new = compile_objects(_cluster(["10.0.0.1", "10.0.0.3"]), previous=base)
    delta = endpoint_delta(base, new)
    assert delta is not None
    assert list(delta.changed) == [BackendKey("default/web:80")]
    assert delta.removed == () and delta.problems is None and delta.endpoint_count == 2
    data = pickle.dumps(delta)
    assert b"Endpoint\x94" not in data  # plain tuples on the wire, Endpoints again on loading
    shipped = pickle.loads(data)
    assert {type(e) for e in shipped.changed[BackendKey("default/web:80")]} == {Endpoint}
    rebuilt = apply_delta(base, shipped)
    assert rebuilt.digest == new.digest
    assert rebuilt.endpoints == new.endpoints
    assert rebuilt.table is base.table and rebuilt.matcher is base.matcher


def test_a_service_that_disappears_ships_the_new_problems() -> None:
    base = compile_objects(_cluster(["10.0.0.1"]))
    new = compile_objects(_cluster(["10.0.0.1"], api=False), previous=base)
    delta = endpoint_delta(base, new)
    assert delta is not None
    assert dict(delta.changed) == {BackendKey("default/api:80"): ()}
    assert delta.problems is not None and any("api" in p.reason for p in delta.problems)
    assert apply_delta(base, delta).problems == new.problems


def test_a_route_change_is_not_a_delta() -> None:
    base = compile_objects(_cluster(["10.0.0.1"]))
    new = compile_objects(_cluster(["10.0.0.1"], host="other"), previous=base)
    assert endpoint_delta(base, new) is None


def test_a_delta_applied_to_another_snapshot_is_refused() -> None:
    base = compile_objects(_cluster(["10.0.0.1"]))
    new = compile_objects(_cluster(["10.0.0.2"]), previous=base)
    other = compile_objects(_cluster(["10.0.0.9"]), previous=base)
    delta = endpoint_delta(base, new)
    assert delta is not None
    with pytest.raises(DeltaMismatch, match=base.digest):
        apply_delta(other, delta)
