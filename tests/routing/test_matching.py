"""Route conditions in the compiler and the matcher: part of the route key (reference §4.5),
ordered as Higress sorts them (§4.2), falling through when they fail."""

from __future__ import annotations

from routing.snapshot import Snapshot
from tests.objects import RequestStub, compile_objects, ingress, path, problems, rule

H = "higress.io/"
N = "nginx.ingress.kubernetes.io/"


def served(
    snapshot: Snapshot, request: RequestStub, p: str = "/api", host: str = "h"
) -> str | None:
    route = snapshot.matcher.match(host, p, request)
    return route.ingress if route is not None else None


def when(name: str, annotations: dict[str, str], *paths: dict, host: str = "h") -> dict:
    return ingress(name, rule(host, *(paths or (path("/api"),))), annotations=annotations)


def test_same_path_shared_when_conditions_differ() -> None:
    snapshot = compile_objects(
        [
            when("plain", {}),
            when("gets", {H + "match-method": "GET"}),
            when("v2", {H + "exact-match-header-x-version": "2"}),
            when("beta", {H + "exact-match-query-beta": "1"}),
        ]
    )
    assert problems(snapshot) == []
    assert served(snapshot, RequestStub("GET")) == "gets"
    assert served(snapshot, RequestStub("POST")) == "plain"
    assert served(snapshot, RequestStub("POST", {"x-version": "2"})) == "v2"
    assert served(snapshot, RequestStub("POST", args={"beta": "1"})) == "beta"


def test_higress_order_among_routes_of_one_path() -> None:
    """Method-restricted first (fewer methods first), then more header conditions, then more
    query conditions; the plain route last, whatever the Ingresses' ages."""
    snapshot = compile_objects(
        [
            when("plain", {}),
            when("one-query", {H + "exact-match-query-a": "1"}),
            when("one-header", {H + "exact-match-header-x-a": "1"}),
            when(
                "two-headers",
                {H + "exact-match-header-x-a": "1", H + "exact-match-header-x-b": "1"},
            ),
            when("two-methods", {H + "match-method": "GET POST"}),
            when("one-method", {H + "match-method": "GET"}),
        ]
    )
    everything = RequestStub("GET", {"x-a": "1", "x-b": "1"}, {"a": "1"})
    assert served(snapshot, everything) == "one-method"
    assert served(snapshot, RequestStub("POST", {"x-a": "1", "x-b": "1"})) == "two-methods"
    assert (
        served(snapshot, RequestStub("PUT", {"x-a": "1", "x-b": "1"}, {"a": "1"})) == "two-headers"
    )
    assert served(snapshot, RequestStub("PUT", {"x-a": "1"}, {"a": "1"})) == "one-header"
    assert served(snapshot, RequestStub("PUT", args={"a": "1"})) == "one-query"
    assert served(snapshot, RequestStub("PUT")) == "plain"


def test_failed_conditions_fall_through_to_shorter_paths_and_404() -> None:
    snapshot = compile_objects(
        [
            when("api-get", {H + "match-method": "GET"}, path("/api"), path("/api/v1", "Exact")),
            when("root", {}, path("/")),
            when("other-host", {H + "match-method": "GET"}, path("/"), host="g"),
        ]
    )
    assert served(snapshot, RequestStub("GET"), "/api/v1") == "api-get"
    assert served(snapshot, RequestStub("POST"), "/api/v1") == "root"  # exact, prefix, then `/`
    assert served(snapshot, RequestStub("POST"), "/api/x") == "root"
    assert served(snapshot, RequestStub("GET"), "/x", host="g") == "other-host"
    assert served(snapshot, RequestStub("POST"), "/x", host="g") is None  # 404, never another host


def test_regex_routes_have_conditions_too() -> None:
    snapshot = compile_objects(
        [
            when(
                "regex-get",
                {N + "use-regex": "true", H + "match-method": "GET"},
                path("/a.+", "ImplementationSpecific"),
            ),
            when("plain", {}, path("/")),
        ]
    )
    assert served(snapshot, RequestStub("GET"), "/abc") == "regex-get"
    assert served(snapshot, RequestStub("DELETE"), "/abc") == "plain"


def test_same_conditions_conflict_and_the_message_says_which() -> None:
    snapshot = compile_objects(
        [
            when("old", {H + "match-method": "GET", H + "exact-match-header-x-a": "1"}),
            when("new", {H + "match-method": "GET", H + "exact-match-header-x-a": "1"}),
        ]
    )
    [problem] = problems(snapshot)
    assert (problem.name, problem.code) == ("new", "ConflictingPath")
    assert 'when method GET, header x-a exact "1"' in problem.reason
    assert served(snapshot, RequestStub("GET", {"x-a": "1"})) == "old"


def test_without_request_conditional_routes_never_match() -> None:
    snapshot = compile_objects([when("gets", {H + "match-method": "GET"})])
    assert snapshot.matcher.match("h", "/api") is None


def test_default_backend_has_no_conditions() -> None:
    """Conditions apply to the rule paths; `spec.defaultBackend` stays the host's fallback."""
    snapshot = compile_objects(
        [
            ingress(
                "gets",
                rule("h", path("/api")),
                annotations={H + "match-method": "GET"},
                default_backend={"service": {"name": "fallback", "port": {"number": 80}}},
            )
        ]
    )
    route = snapshot.matcher.match("h", "/api", RequestStub("POST"))
    assert route is not None and route.is_default_backend


def test_canary_joins_the_route_with_its_conditions() -> None:
    canary = {N + "canary": "true", N + "canary-weight": "100"}
    snapshot = compile_objects(
        [
            when("plain", {}),
            when("gets", {H + "match-method": "GET"}),
            ingress(
                "canary-gets",
                rule("h", path("/api", service="beta")),
                annotations={**canary, H + "match-method": "GET"},
            ),
            ingress(
                "canary-posts",
                rule("h", path("/api", service="beta")),
                annotations={**canary, H + "match-method": "POST"},
            ),
        ]
    )
    gets = snapshot.matcher.match("h", "/api", RequestStub("GET"))
    plain = snapshot.matcher.match("h", "/api", RequestStub("PUT"))
    assert gets is not None and [c.ingress for c in gets.canaries] == ["canary-gets"]
    assert plain is not None and plain.canaries == ()
    [problem] = problems(snapshot)
    assert (problem.name, problem.code) == ("canary-posts", "CanaryWithoutPrimary")
    assert "when method POST" in problem.reason


def test_routes_document_and_digest_show_conditions() -> None:
    from routing.document import routes_document

    first = compile_objects([when("v", {H + "exact-match-header-x-v": "1"})])
    second = compile_objects([when("v", {H + "exact-match-header-x-v": "2"})])
    [entry] = routes_document(first, 1)["routes"]
    assert entry["conditions"] == 'header x-v exact "1"'
    assert first.table.digest != second.table.digest
