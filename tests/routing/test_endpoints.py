"""Endpoint resolution (issue #2 §7): ports by number or name, named targetPorts, readiness,
EndpointSlices over Endpoints, ExternalName, missing Services."""

from __future__ import annotations

import pytest

from routing.model import BackendKey
from tests.objects import compile_objects, endpoint_slice, endpoints, ingress, path, rule, service

READY = {"ready": True}
NOT_READY = {"ready": False}
TERMINATING = {"ready": False, "serving": True, "terminating": True}


def _endpoints(objects: list[dict[str, object]], port: int | str = 80) -> list[str]:
    snapshot = compile_objects(
        [ingress("i", rule("h", path("/", service="web", port=port))), *objects]
    )
    return [e.hostport for e in snapshot.endpoints[BackendKey(f"default/web:{port}")]]


def test_named_target_port_resolves_per_pod_through_the_port_name() -> None:
    objects = [
        service("web", ("http", 80, "web-port"), ("metrics", 9090, 9090)),
        endpoint_slice("web-1", "web", [("http", 8080), ("metrics", 9090)], [("10.0.0.1", READY)]),
        endpoint_slice("web-2", "web", [("http", 8081), ("metrics", 9090)], [("10.0.0.2", READY)]),
    ]
    assert _endpoints(objects) == ["10.0.0.1:8080", "10.0.0.2:8081"]


def test_service_port_by_name() -> None:
    objects = [
        service("web", ("http", 80, 8080)),
        endpoint_slice("s", "web", [("http", 8080)], [("10.0.0.1", READY)]),
    ]
    assert _endpoints(objects, port="http") == ["10.0.0.1:8080"]


def test_only_ready_endpoints_and_duplicates_removed() -> None:
    objects = [
        service("web", ("", 80, 8080)),
        endpoint_slice("a", "web", [("", 8080)], [("10.0.0.1", READY), ("10.0.0.2", NOT_READY)]),
        endpoint_slice("b", "web", [("", 8080)], [("10.0.0.1", READY), ("10.0.0.3", {})]),
    ]
    assert _endpoints(objects) == ["10.0.0.1:8080", "10.0.0.3:8080"]


def test_terminating_serving_endpoints_only_when_none_ready() -> None:
    base = [service("web", ("", 80, 8080))]
    only_terminating = [endpoint_slice("a", "web", [("", 8080)], [("10.0.0.9", TERMINATING)])]
    assert _endpoints(base + only_terminating) == ["10.0.0.9:8080"]
    mixed = [
        endpoint_slice("a", "web", [("", 8080)], [("10.0.0.9", TERMINATING), ("10.0.0.1", READY)])
    ]
    assert _endpoints(base + mixed) == ["10.0.0.1:8080"]


def test_slices_win_over_endpoints_never_both() -> None:
    objects = [
        service("web", ("", 80, 8080)),
        endpoint_slice("a", "web", [("", 8080)], [("10.0.0.1", READY)]),
        endpoints("web", ["10.9.9.9"], [("", 8080)]),
    ]
    assert _endpoints(objects) == ["10.0.0.1:8080"]


def test_endpoints_used_when_no_slice_exists() -> None:
    objects = [
        service("web", ("http", 80, 8080)),
        endpoints("web", ["10.0.0.2", "10.0.0.1"], [("http", 8080)]),
    ]
    assert _endpoints(objects) == ["10.0.0.1:8080", "10.0.0.2:8080"]


def test_slice_of_another_service_is_ignored() -> None:
    objects = [
        service("web", ("", 80, 8080)),
        endpoint_slice("x", "other", [("", 8080)], [("10.0.0.1", READY)]),
    ]
    assert _endpoints(objects) == []


def test_ipv6_endpoints_are_bracketed() -> None:
    objects = [
        service("web", ("", 80, 8080)),
        endpoint_slice("a", "web", [("", 8080)], [("fd00::1", READY)]),
    ]
    assert _endpoints(objects) == ["[fd00::1]:8080"]


def test_external_name_service_is_a_dns_target() -> None:
    objects = [service("web", ("", 80, 443), type_="ExternalName", external_name="api.example.org")]
    assert _endpoints(objects) == ["api.example.org:443"]


@pytest.mark.parametrize(
    ("objects", "reason"),
    [
        pytest.param([], "Service default/web does not exist", id="missing-service"),
        pytest.param(
            [service("web", ("", 81, 81))], "Service default/web has no port 80", id="missing-port"
        ),
    ],
)
def test_missing_service_or_port_is_a_warning_and_no_endpoints(
    objects: list[dict[str, object]], reason: str
) -> None:
    snapshot = compile_objects([ingress("i", rule("h", path("/", service="web"))), *objects])
    assert snapshot.endpoints[BackendKey("default/web:80")] == ()
    [problem] = snapshot.problems
    assert problem.severity == "warning"
    assert problem.reason.startswith(reason) and "503" in problem.reason
    assert problem.field == "spec.rules[0].http.paths[0].backend.service"
