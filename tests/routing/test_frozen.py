"""Snapshots pickle to worker processes whole and still frozen, whether the routing model runs
compiled (as it ships, `gateway.compiled.ROUTING`) or interpreted (`routing.frozen`)."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from routing import frozen
from routing.match import Matcher
from tests.certs import CertificateAuthority, tls_secret
from tests.objects import (
    RequestStub,
    compile_objects,
    endpoint_slice,
    ingress,
    path,
    rule,
    service,
)

CA = CertificateAuthority()


def _cluster() -> list[dict[str, Any]]:
    """Routes carrying most of the model: a rewrite, canaries, a default backend, an alias,
    conditions, TLS with a client-certificate policy, and the global settings."""
    main = ingress(
        "shop",
        rule("shop.example.com", path("/", service="web"), path("/api", "Exact", service="api")),
        annotations={
            "nginx.ingress.kubernetes.io/server-alias": "store.example.com",
            "nginx.ingress.kubernetes.io/default-backend": "web",
            "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8",
        },
    )
    main["spec"]["tls"] = [{"hosts": ["shop.example.com"], "secretName": "shop"}]
    return [
        main,
        ingress(
            "shop-canary",
            rule("shop.example.com", path("/", service="web-v2")),
            annotations={
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-by-header": "x-v2",
                "nginx.ingress.kubernetes.io/canary-weight": "10",
            },
        ),
        ingress(
            "legacy",
            rule(
                "legacy.example.com",
                path("/old(/|$)(.*)", "ImplementationSpecific", service="web"),
            ),
            annotations={
                "nginx.ingress.kubernetes.io/use-regex": "true",
                "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
            },
        ),
        ingress(
            "get-only",
            rule("*.apps.example.com", path("/", service="web")),
            annotations={"higress.io/match-method": "GET"},
        ),
        tls_secret("shop", CA.issue("shop.example.com")),
        service("web", ("http", 80, 8080)),
        service("web-v2", ("http", 80, 8080)),
        service("api", ("http", 80, 8080)),
        endpoint_slice("web-1", "web", [("http", 8080)], [("10.0.0.1", {"ready": True})]),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "default"},
            "data": {"proxy-read-timeout": "7", "large-client-header-buffers": "2 4k"},
        },
    ]


REQUESTS = [
    ("shop.example.com", "/", RequestStub()),
    ("shop.example.com", "/api", RequestStub()),
    ("store.example.com", "/x", RequestStub()),
    ("legacy.example.com", "/old/a/b", RequestStub()),
    ("a.apps.example.com", "/", RequestStub()),
    ("a.apps.example.com", "/", RequestStub(method="POST")),
    ("unknown.example.com", "/", RequestStub()),
]


def test_a_snapshot_survives_pickling_whole() -> None:
    snapshot = compile_objects(_cluster(), configmap=("default", "cfg"))
    assert snapshot.problems == ()
    shipped = pickle.loads(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL))
    # every field but the matcher (compared by identity, checked by matching below) is equal
    assert dataclasses.replace(shipped, matcher=snapshot.matcher) == snapshot
    assert shipped.table.routes == snapshot.table.routes
    assert shipped.config.proxy_read_timeout == 7.0
    assert (shipped.config.max_head_bytes, shipped.config.max_uri_bytes) == (8192, 4096)
    assert shipped.tls == snapshot.tls and shipped.tls.lookup("shop.example.com") is not None
    for host, request_path, request in REQUESTS:
        before = snapshot.matcher.match(host, request_path, request)
        assert shipped.matcher.match(host, request_path, request) == before, (host, request)
    route = shipped.matcher.match("shop.example.com", "/", RequestStub())
    assert route is not None and route.canaries and route.access is not None


def test_pickled_model_objects_stay_frozen() -> None:
    snapshot = compile_objects(_cluster(), configmap=("default", "cfg"))
    shipped = pickle.loads(pickle.dumps(snapshot))
    route = shipped.table.routes[0]
    for target, name in [(route, "path"), (shipped, "digest"), (shipped.config, "keep_alive")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(target, name, getattr(target, name))


def test_every_frozen_dataclass_of_the_compiled_routing_modules_pickles_as_frozen() -> None:
    """mypyc's own pickling assigns fields one by one, which a frozen dataclass refuses: each
    such class must take its pickling from `routing.frozen.Frozen`."""
    from gateway import compiled

    for source in compiled.ROUTING:
        module = __import__(f"routing.{source.removesuffix('.py')}", fromlist=["_"])
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and dataclasses.is_dataclass(value)
                and value.__dataclass_params__.frozen  # type: ignore[attr-defined]
            ):
                assert issubclass(value, frozen.Frozen), value


def test_an_empty_matcher_matches_nothing() -> None:
    """Unpickling a compiled matcher first makes an empty one, then restores its indexes."""
    assert Matcher().match("any.example.com", "/", None) is None
    assert Matcher().virtual_host("") is None
