"""Ordering and conflicts (DESIGN.md invariant 5, reference §4.5) and canary Ingresses."""

from __future__ import annotations

import pytest

from tests.objects import compile_objects, ingress, path, problems, rule

CANARY = {"nginx.ingress.kubernetes.io/canary": "true"}


def _owner(objects: list[dict[str, object]], host: str = "h", request: str = "/p") -> str:
    route = compile_objects(objects).matcher.match(host, request)  # type: ignore[arg-type]
    assert route is not None
    return f"{route.namespace}/{route.ingress}"


def test_oldest_ingress_wins_and_loser_is_reported() -> None:
    objects = [
        ingress("young", rule("h", path("/p")), created="2024-05-01T00:00:00Z"),
        ingress("old", rule("h", path("/p")), created="2023-01-01T00:00:00Z"),
    ]
    snapshot = compile_objects(objects)
    assert _owner(objects) == "default/old"
    [problem] = [p for p in problems(snapshot) if p.severity == "error"]
    assert (problem.name, problem.field) == ("young", "spec.rules[0].http.paths[0]")
    assert "Ingress default/old" in problem.reason and "'/p'" in problem.reason


def test_equal_age_tie_broken_by_namespace_name_descending() -> None:
    ts = "2024-01-01T00:00:00Z"
    objects = [
        ingress("a", rule("h", path("/p")), namespace="ns1", created=ts),
        ingress("b", rule("h", path("/p")), namespace="ns1", created=ts),
        ingress("z", rule("h", path("/p")), namespace="ns0", created=ts),
    ]
    assert _owner(objects) == "ns1/b"


def test_file_position_is_age_without_timestamps() -> None:
    objects = [ingress("second", rule("h", path("/p"))), ingress("first", rule("h", path("/p")))]
    assert _owner(objects) == "default/second"


def test_prefix_with_and_without_trailing_slash_conflict() -> None:
    snapshot = compile_objects(
        [ingress("a", rule("h", path("/p"))), ingress("b", rule("h", path("/p/")))]
    )
    assert [p.name for p in problems(snapshot)] == ["b"]


def test_prefix_and_impl_specific_of_same_path_conflict() -> None:
    """Both index the same prefix slot; the second would be unreachable, so it is reported."""
    snapshot = compile_objects(
        [
            ingress("a", rule("h", path("/p"))),
            ingress("b", rule("h", path("/p", "ImplementationSpecific"))),
        ]
    )
    assert [p.name for p in problems(snapshot)] == ["b"]


def test_same_path_different_type_is_no_conflict() -> None:
    snapshot = compile_objects(
        [ingress("a", rule("h", path("/p"))), ingress("b", rule("h", path("/p", "Exact")))]
    )
    assert problems(snapshot) == []
    assert len(snapshot.table.routes) == 2


def test_same_path_other_host_is_no_conflict() -> None:
    snapshot = compile_objects(
        [ingress("a", rule("h1", path("/p"))), ingress("b", rule("h2", path("/p")))]
    )
    assert problems(snapshot) == []


def test_duplicate_inside_one_ingress_is_reported() -> None:
    snapshot = compile_objects(
        [ingress("a", rule("h", path("/p", service="one"), path("/p", service="two")))]
    )
    [problem] = problems(snapshot)
    assert "earlier path of this Ingress" in problem.reason
    assert snapshot.matcher.match("h", "/p").service == "one"  # type: ignore[union-attr]


def test_canary_creates_no_routes_and_no_conflicts() -> None:
    objects = [
        ingress(
            "canary",
            rule("h", path("/p", service="new")),
            annotations=CANARY,
            created="2020-01-01T00:00:00Z",
        ),
        ingress("main", rule("h", path("/p", service="stable")), created="2024-01-01T00:00:00Z"),
        ingress("lonely-canary", rule("other", path("/")), annotations=CANARY),
    ]
    snapshot = compile_objects(objects)
    assert [(p.name, p.code) for p in problems(snapshot)] == [
        ("lonely-canary", "CanaryWithoutPrimary")
    ]
    assert [r.ingress for r in snapshot.table.routes] == ["main"]
    # an older canary still attaches to the newer primary
    [route] = snapshot.table.routes
    assert [c.ingress for c in route.canaries] == ["canary"]


@pytest.mark.parametrize(
    "prefix", ["nginx.ingress.kubernetes.io/", "mse.ingress.kubernetes.io/", "higress.io/"]
)
def test_canary_annotation_under_every_prefix(prefix: str) -> None:
    snapshot = compile_objects(
        [ingress("c", rule("h", path("/")), annotations={prefix + "canary": "true"})]
    )
    assert snapshot.table.routes == ()
