"""`spec.defaultBackend` (reference §4.4, ingress-nginx's behaviour) and the no-match 404."""

from __future__ import annotations

from tests.objects import backend, compile_objects, ingress, path, problems, route_of, rule


def test_defaultbackend_without_rules_serves_every_unmatched_host() -> None:
    snapshot = compile_objects(
        [
            ingress("fallback", default_backend=backend("fb")),
            ingress("site", rule("site.test", path("/app"))),
        ]
    )
    assert route_of(snapshot, "unknown.test", "/x") == "fallback default"
    assert route_of(snapshot, "site.test", "/app") == "site /app"


def test_defaultbackend_does_not_reach_hosts_it_did_not_create() -> None:
    """A host defined by another Ingress answers 404 off its paths, as an nginx server does."""
    snapshot = compile_objects(
        [
            ingress("fallback", default_backend=backend("fb")),
            ingress("site", rule("site.test", path("/app"))),
        ]
    )
    assert route_of(snapshot, "site.test", "/other") is None


def test_defaultbackend_with_rules_covers_the_hosts_this_ingress_created_first() -> None:
    snapshot = compile_objects(
        [
            ingress("first", rule("a.test", path("/a"))),
            ingress(
                "second",
                rule("a.test", path("/b")),
                rule("b.test", path("/b")),
                default_backend=backend("second-default"),
            ),
        ]
    )
    assert route_of(snapshot, "b.test", "/zzz") == "second default"
    assert route_of(snapshot, "a.test", "/zzz") is None


def test_explicit_root_path_beats_defaultbackend() -> None:
    snapshot = compile_objects(
        [
            ingress("one", rule("a.test", path("/x")), default_backend=backend("d")),
            ingress("two", rule("a.test", path("/", service="root"))),
        ]
    )
    assert route_of(snapshot, "a.test", "/y") == "two /"


def test_oldest_rules_free_defaultbackend_wins_and_the_other_is_reported() -> None:
    snapshot = compile_objects(
        [
            ingress("old", default_backend=backend("one")),
            ingress("new", default_backend=backend("two")),
        ]
    )
    assert route_of(snapshot, "any", "/") == "old default"
    [problem] = problems(snapshot)
    assert (problem.name, problem.field, problem.severity) == (
        "new",
        "spec.defaultBackend",
        "warning",
    )


def test_defaultbackend_is_after_any_host_paths() -> None:
    snapshot = compile_objects(
        [
            ingress("fallback", default_backend=backend("fb")),
            ingress("any", rule(None, path("/api"))),
        ]
    )
    assert route_of(snapshot, "x", "/api/1") == "any /api"
    assert route_of(snapshot, "x", "/web") == "fallback default"


def test_ingress_with_neither_rules_nor_default_is_refused() -> None:
    snapshot = compile_objects([ingress("empty")])
    [problem] = problems(snapshot)
    assert (problem.field, problem.severity) == ("spec", "error")


def test_no_ingress_at_all_matches_nothing() -> None:
    assert compile_objects([]).matcher.match("a", "/") is None
