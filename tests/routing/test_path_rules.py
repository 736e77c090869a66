"""Every row of the Ingress spec's path table (reference §4.1), plus DESIGN.md's precedence."""

from __future__ import annotations

import pytest

from tests.objects import compile_objects, ingress, path, route_of, rule

# (paths as (path, pathType), request, the rule path that must serve it or None for no match)
SPEC_TABLE = [
    pytest.param([("/", "Prefix")], "/anything/at/all", "/", id="prefix-root-matches-all"),
    pytest.param([("/foo", "Exact")], "/foo", "/foo", id="exact-foo-matches-foo"),
    pytest.param([("/foo", "Exact")], "/bar", None, id="exact-foo-not-bar"),
    pytest.param([("/foo", "Exact")], "/foo/", None, id="exact-foo-not-foo-slash"),
    pytest.param([("/foo/", "Exact")], "/foo", None, id="exact-foo-slash-not-foo"),
    pytest.param([("/foo", "Prefix")], "/foo", "/foo", id="prefix-foo-matches-foo"),
    pytest.param([("/foo", "Prefix")], "/foo/", "/foo", id="prefix-foo-matches-foo-slash"),
    pytest.param([("/foo/", "Prefix")], "/foo", "/foo/", id="prefix-foo-slash-matches-foo"),
    pytest.param([("/foo/", "Prefix")], "/foo/", "/foo/", id="prefix-foo-slash-matches-foo-slash"),
    pytest.param([("/aaa/bb", "Prefix")], "/aaa/bbb", None, id="prefix-not-partial-element"),
    pytest.param([("/aaa/bbb", "Prefix")], "/aaa/bbb", "/aaa/bbb", id="prefix-whole-element"),
    pytest.param(
        [("/aaa/bbb/", "Prefix")], "/aaa/bbb", "/aaa/bbb/", id="prefix-ignores-trailing-slash"
    ),
    pytest.param(
        [("/aaa/bbb", "Prefix")], "/aaa/bbb/", "/aaa/bbb", id="prefix-matches-trailing-slash"
    ),
    pytest.param([("/aaa/bbb", "Prefix")], "/aaa/bbb/ccc", "/aaa/bbb", id="prefix-matches-subpath"),
    pytest.param([("/aaa/bbb", "Prefix")], "/aaa/bbbxyz", None, id="prefix-not-string-prefix"),
    pytest.param(
        [("/", "Prefix"), ("/aaa", "Prefix")], "/aaa/ccc", "/aaa", id="longest-prefix-aaa"
    ),
    pytest.param(
        [("/", "Prefix"), ("/aaa", "Prefix"), ("/aaa/bbb", "Prefix")],
        "/aaa/bbb",
        "/aaa/bbb",
        id="longest-prefix-aaa-bbb",
    ),
    pytest.param(
        [("/", "Prefix"), ("/aaa", "Prefix"), ("/aaa/bbb", "Prefix")],
        "/ccc",
        "/",
        id="falls-back-to-root",
    ),
    pytest.param([("/aaa", "Prefix")], "/ccc", None, id="no-match-default-backend"),
    pytest.param(
        [("/foo", "Prefix"), ("/foo", "Exact")], "/foo", "/foo:Exact", id="mixed-prefers-exact"
    ),
    pytest.param(
        [("/foo", "Prefix"), ("/foo", "Exact")], "/foo/x", "/foo:Prefix", id="mixed-prefix-below"
    ),
    pytest.param(
        [("/foo", "ImplementationSpecific")], "/foo/bar", "/foo", id="impl-specific-is-prefix"
    ),
    pytest.param(
        [("/foo", "ImplementationSpecific")], "/foobar", None, id="impl-specific-element-wise"
    ),
    pytest.param([("/Foo", "Exact")], "/foo", None, id="exact-is-case-sensitive"),
    pytest.param([("/Foo", "Prefix")], "/foo/x", None, id="prefix-is-case-sensitive"),
]


@pytest.mark.parametrize(("paths", "request_path", "expected"), SPEC_TABLE)
def test_spec_path_table(
    paths: list[tuple[str, str]], request_path: str, expected: str | None
) -> None:
    rules = [path(p, t, service=f"svc-{t}") for p, t in paths]
    snapshot = compile_objects([ingress("ing", rule("example.com", *rules))])
    route = snapshot.matcher.match("example.com", request_path)
    if expected is None:
        assert route is None
        return
    assert route is not None
    want_path, _, want_type = expected.partition(":")
    assert route.path == want_path
    if want_type:
        assert route.service == f"svc-{want_type}"


PRECEDENCE = [
    pytest.param("/api/v1/users", "exact-users", id="exact-beats-longer-prefix"),
    pytest.param("/api/v1/other", "prefix-v1", id="longest-prefix-beats-shorter"),
    pytest.param("/api/x", "prefix-api", id="prefix-beats-regex"),
    pytest.param("/reports/2024", "regex-long", id="longer-regex-first"),
    pytest.param("/rep", "regex-short", id="shorter-regex-when-longer-fails"),
    pytest.param("/elsewhere", "catch-all", id="regex-misses-then-catch-all"),
]


@pytest.mark.parametrize(("request_path", "service"), PRECEDENCE)
def test_precedence_across_ingresses(request_path: str, service: str) -> None:
    objects = [
        ingress(
            "a",
            rule(
                "h.test",
                path("/api/v1/users", "Exact", "exact-users"),
                path("/", "Prefix", "catch-all"),
            ),
        ),
        ingress(
            "b",
            rule(
                "h.test",
                path("/api", "Prefix", "prefix-api"),
                path("/api/v1", "Prefix", "prefix-v1"),
            ),
        ),
        ingress(
            "c",
            rule(
                "h.test",
                path("/rep.*", "ImplementationSpecific", "regex-short"),
                path("/reports/[0-9]+", "ImplementationSpecific", "regex-long"),
                path("/api/.*", "ImplementationSpecific", "regex-api"),
            ),
            annotations={"nginx.ingress.kubernetes.io/use-regex": "true"},
        ),
    ]
    snapshot = compile_objects(objects)
    route = snapshot.matcher.match("h.test", request_path)
    assert route is not None and route.service == service


def test_regex_beats_catch_all_but_not_exact() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "plain", rule("h.test", path("/", "Prefix", "root"), path("/x1", "Exact", "exact"))
            ),
            ingress(
                "re",
                rule("h.test", path("/x[0-9]", "ImplementationSpecific", "regex")),
                annotations={"nginx.ingress.kubernetes.io/use-regex": "true"},
            ),
        ]
    )
    assert snapshot.matcher.match("h.test", "/x2").service == "regex"  # type: ignore[union-attr]
    assert snapshot.matcher.match("h.test", "/x1").service == "exact"  # type: ignore[union-attr]
    assert snapshot.matcher.match("h.test", "/y").service == "root"  # type: ignore[union-attr]


def test_request_path_is_normalised_before_matching() -> None:
    snapshot = compile_objects(
        [ingress("i", rule("h", path("/public"), path("/admin", "Exact", "adm")))]
    )
    assert route_of(snapshot, "h", "/admin/../public/x") == "i /public"
    assert route_of(snapshot, "h", "//public//x") == "i /public"
    assert route_of(snapshot, "h", "/%61dmin") == "i /admin"
