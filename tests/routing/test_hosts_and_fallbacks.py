"""`server-alias` and `default-backend` in the compiler (reference §1D, §1K)."""

from __future__ import annotations

from routing.document import routes_document
from routing.model import BackendKey, Endpoint
from tests.objects import compile_objects, endpoint_slice, ingress, path, problems, rule, service

N = "nginx.ingress.kubernetes.io/"


def owner(snapshot, host: str, request: str = "/") -> str | None:  # type: ignore[no-untyped-def]
    route = snapshot.matcher.match(host, request)
    return f"{route.ingress} {route.path}" if route is not None else None


def test_alias_is_served_by_every_route_of_its_host() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "shop",
                rule("shop.test", path("/")),
                rule("second.test", path("/")),
                annotations={N + "server-alias": "www.shop.test, *.shop.example"},
            ),
            ingress("api", rule("shop.test", path("/api"))),  # another Ingress, same host
        ]
    )
    assert problems(snapshot) == []
    assert owner(snapshot, "www.shop.test", "/api/x") == "api /api"
    assert owner(snapshot, "www.shop.test") == "shop /"
    assert owner(snapshot, "eu.shop.example", "/api") == "api /api"
    assert owner(snapshot, "a.b.shop.example") is None  # a wildcard covers one label
    assert snapshot.table.aliases == (
        ("*.shop.example", "shop.test"),
        ("www.shop.test", "shop.test"),
    )
    assert routes_document(snapshot, 1)["aliases"] == {
        "*.shop.example": "shop.test",
        "www.shop.test": "shop.test",
    }


def test_alias_colliding_with_a_host_or_an_older_alias_is_ignored() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "first",
                rule("one.test", path("/", service="one")),
                annotations={N + "server-alias": "alias.test"},
                created="2024-01-01T00:00:00Z",
            ),
            ingress(
                "second",
                rule("two.test", path("/", service="two")),
                annotations={N + "server-alias": "alias.test, one.test"},
                created="2024-02-01T00:00:00Z",
            ),
        ]
    )
    warnings = sorted((p.name, p.code, p.reason) for p in problems(snapshot))
    assert warnings == [
        (
            "second",
            "IgnoredAlias",
            "alias alias.test is ignored: it is already an alias of host one.test",
        ),
        ("second", "IgnoredAlias", "alias one.test is ignored: a rule serves that host itself"),
    ]
    assert owner(snapshot, "alias.test") == "first /"
    assert owner(snapshot, "one.test") == "first /"


def test_alias_changes_the_table_digest() -> None:
    first = compile_objects(
        [ingress("a", rule("a.test", path("/")), annotations={N + "server-alias": "b.test"})]
    )
    second = compile_objects(
        [ingress("a", rule("a.test", path("/")), annotations={N + "server-alias": "c.test"})]
    )
    assert first.table.digest != second.table.digest


def test_default_backend_resolves_the_services_first_port() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="app")),
                annotations={N + "default-backend": "errors", N + "custom-http-errors": "404,503"},
            ),
            service("app", ("http", 80, 8080)),
            service("errors", ("web", 8000, 8000), ("metrics", 9000, 9000)),
            endpoint_slice(
                "errors-1",
                "errors",
                [("web", 8000), ("metrics", 9000)],
                [("10.0.0.9", {"ready": True})],
            ),
        ]
    )
    route = snapshot.matcher.match("shop.test", "/")
    assert route is not None and route.fallback is not None
    assert route.error_codes == frozenset({404, 503})
    assert route.fallback.backend == BackendKey("default/errors:")
    assert snapshot.endpoints[route.fallback.backend] == (Endpoint("10.0.0.9", 8000),)


def test_missing_default_backend_service_is_a_warning_naming_the_annotation() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="app")),
                annotations={N + "default-backend": "other/gone"},
            ),
            service("app", ("http", 80, 8080)),
        ]
    )
    [problem] = [p for p in snapshot.problems if p.code == "MissingService"]
    assert problem.field == f"metadata.annotations[{N}default-backend]"
    assert problem.reason == "Service other/gone does not exist; the default backend is not used"
