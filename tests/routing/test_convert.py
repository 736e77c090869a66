"""Conversion of plain dicts into views: malformed required fields become named problems."""

from __future__ import annotations

from typing import Any

import pytest

from routing.convert import convert
from routing.sources import Ingress, Secret, Service
from tests.objects import ingress, path, rule, service


def _ingress_with(**changes: Any) -> dict[str, Any]:
    obj = ingress("i", rule("h", path("/")))
    spec_path = obj["spec"]["rules"][0]["http"]["paths"][0]
    spec_path.update(changes)
    return obj


@pytest.mark.parametrize(
    ("obj", "field", "reason"),
    [
        pytest.param(
            _ingress_with(pathType="Regex"),
            "spec.rules[0].http.paths[0].pathType",
            "is not one of",
            id="bad-path-type",
        ),
        pytest.param(
            _ingress_with(pathType=None),
            "spec.rules[0].http.paths[0].pathType",
            "is not one of",
            id="missing-path-type",
        ),
        pytest.param(
            _ingress_with(path="api"),
            "spec.rules[0].http.paths[0].path",
            "must start with '/'",
            id="relative-path",
        ),
        pytest.param(
            _ingress_with(backend={"service": {"name": "s", "port": {}}}),
            "spec.rules[0].http.paths[0].backend.service.port",
            "needs a number or a name",
            id="port-missing",
        ),
        pytest.param(
            _ingress_with(backend={"service": {"name": "s", "port": {"number": 70000}}}),
            "spec.rules[0].http.paths[0].backend.service.port.number",
            "not a port number",
            id="port-out-of-range",
        ),
        pytest.param(
            _ingress_with(backend={"service": {"port": {"number": 80}}}),
            "spec.rules[0].http.paths[0].backend.service.name",
            "is required",
            id="service-name-missing",
        ),
        pytest.param(
            _ingress_with(backend={"resource": {"kind": "Bucket", "name": "b"}}),
            "spec.rules[0].http.paths[0].backend.resource",
            "not supported",
            id="resource-backend",
        ),
        pytest.param(
            {"kind": "Ingress", "metadata": {"name": "x"}, "spec": {"rules": "nope"}},
            "spec.rules",
            "must be a list",
            id="rules-not-a-list",
        ),
        pytest.param(
            {"kind": "Ingress", "metadata": {}, "spec": {}},
            "metadata.name",
            "is required",
            id="name-missing",
        ),
        pytest.param(
            {"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "80"}]}},
            "spec.ports[0].port",
            "not a port number",
            id="service-port-string",
        ),
        pytest.param(
            {"kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ExternalName"}},
            "spec.externalName",
            "is required",
            id="external-name-missing",
        ),
        pytest.param(
            {"kind": "IngressClass", "metadata": {"name": "c"}, "spec": {}},
            "spec.controller",
            "is required",
            id="class-controller-missing",
        ),
    ],
)
def test_malformed_objects_become_named_problems(
    obj: dict[str, Any], field: str, reason: str
) -> None:
    converted = convert(obj, default_namespace="default")
    assert converted.view is None
    [problem] = converted.problems
    assert problem.field == field and reason in problem.reason
    assert problem.severity == "error"


def test_unknown_fields_are_ignored_and_defaults_applied() -> None:
    obj = ingress(
        "i",
        rule(
            "Example.COM.",
            {
                "path": "/",
                "pathType": "Prefix",
                "backend": {"service": {"name": "s", "port": {"name": "http"}}},
                "futureField": 1,
            },
        ),
    )
    obj["spec"]["futureSpecField"] = {"x": 1}
    del obj["metadata"]["namespace"]
    converted = convert(obj, default_namespace="default")
    assert converted.problems == ()
    view = converted.view
    assert isinstance(view, Ingress)
    assert view.meta.namespace == "default"
    assert view.rules[0].host == "example.com"
    assert view.rules[0].paths[0].backend.port == "http"


def test_empty_path_means_root() -> None:
    view = convert(_ingress_with(path="", pathType="ImplementationSpecific")).view
    assert isinstance(view, Ingress) and view.rules[0].paths[0].path == "/"


def test_service_defaults_and_secret_decoding() -> None:
    svc = convert(service("s", ("http", 80, "web")))
    assert isinstance(svc.view, Service) and svc.view.ports[0].target_port == "web"
    secret = convert(
        {
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "n"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "aGVsbG8=", "bad": "!!"},
        }
    )
    assert isinstance(secret.view, Secret) and secret.view.data["tls.crt"] == b"hello"
    [problem] = secret.problems
    assert problem.field == "data.bad"


def test_unknown_kind_is_ignored_silently() -> None:
    assert convert({"kind": "Deployment", "metadata": {"name": "d"}}).view is None
    assert convert({"kind": "Deployment", "metadata": {"name": "d"}}).problems == ()


def test_yaml_datetime_timestamp_is_accepted() -> None:
    from datetime import datetime

    obj = ingress("i", rule("h", path("/")))
    obj["metadata"]["creationTimestamp"] = datetime(2024, 1, 1)
    view = convert(obj).view
    assert isinstance(view, Ingress) and view.meta.creation_timestamp is not None
    assert view.meta.creation_timestamp.tzinfo is not None
