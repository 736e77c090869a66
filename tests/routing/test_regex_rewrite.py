"""`use-regex` and `rewrite-target` applied (reference §4.6), with regex mode confined to the
Ingress that asked for it (DESIGN.md invariant 6)."""

from __future__ import annotations

import pytest

from routing.paths import normalise_request_path
from routing.rewrite import rewrite_path
from tests.objects import compile_objects, ingress, path, problems, rule

REWRITE = {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}
REGEX = {"nginx.ingress.kubernetes.io/use-regex": "true"}


def _rewritten(
    annotations: dict[str, str],
    rule_path: str,
    request: str,
    path_type: str = "ImplementationSpecific",
) -> str | None:
    snapshot = compile_objects(
        [ingress("r", rule("h", path(rule_path, path_type)), annotations=annotations)]
    )
    normalised = normalise_request_path(request)
    assert normalised is not None
    route = snapshot.matcher.match("h", normalised)
    if route is None:
        return None
    return rewrite_path(route.rewrite, normalised) if route.rewrite else normalised


@pytest.mark.parametrize(
    ("request_path", "upstream"),
    [
        pytest.param("/something", "/", id="no-trailing-part"),
        pytest.param("/something/", "/", id="trailing-slash"),
        pytest.param("/something/new", "/new", id="subpath-kept"),
        pytest.param("/SOMETHING/new", "/new", id="case-insensitive"),
        pytest.param("/something/a/b/c", "/a/b/c", id="deep-subpath"),
        pytest.param("/somethingelse", None, id="group-requires-boundary"),
    ],
)
def test_nginx_documented_capture_example(request_path: str, upstream: str | None) -> None:
    assert _rewritten(REWRITE, "/something(/|$)(.*)", request_path) == upstream


def test_regex_is_start_anchored_only() -> None:
    assert _rewritten(REGEX, "/api/v[0-9]+", "/api/v2/users") == "/api/v2/users"
    assert _rewritten(REGEX, "/api/v[0-9]+", "/x/api/v2") is None


def test_rewrite_replaces_the_whole_path_for_a_plain_prefix() -> None:
    """nginx `rewrite "(?i)/api" /` replaces the whole URI, not only the matched part."""
    annotations = {"nginx.ingress.kubernetes.io/rewrite-target": "/"}
    assert _rewritten(annotations, "/api", "/api/users", "Prefix") == "/"


def test_rewrite_target_equal_to_path_rewrites_nothing() -> None:
    annotations = {"nginx.ingress.kubernetes.io/rewrite-target": "/api"}
    assert _rewritten(annotations, "/api", "/api/users", "Prefix") == "/api/users"


def test_missing_group_becomes_empty() -> None:
    annotations = {"nginx.ingress.kubernetes.io/rewrite-target": "/x/$1/$3"}
    assert _rewritten(annotations, "/a/(b)", "/a/b") == "/x/b/"


def test_pcre_named_groups_are_accepted() -> None:
    annotations = {"nginx.ingress.kubernetes.io/rewrite-target": "/$1"}
    assert _rewritten(annotations, "/v1/(?<rest>.*)", "/v1/items") == "/items"


def test_regex_mode_is_confined_to_the_ingress_that_asked() -> None:
    """ingress-nginx would make `/exact` a case-insensitive prefix regex here (#8208)."""
    snapshot = compile_objects(
        [
            ingress(
                "plain", rule("h", path("/exact", "Exact", "exact"), path("/pre", "Prefix", "pre"))
            ),
            ingress(
                "regexy",
                rule("h", path("/re.*", "ImplementationSpecific", "re")),
                annotations=REGEX,
            ),
        ]
    )
    assert snapshot.matcher.match("h", "/exact/more") is None
    assert snapshot.matcher.match("h", "/EXACT") is None
    assert snapshot.matcher.match("h", "/prefix") is None
    assert snapshot.matcher.match("h", "/REgex").service == "re"  # type: ignore[union-attr]


def test_exact_and_prefix_keep_spec_semantics_inside_a_regex_ingress() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "r",
                rule("h", path("/e", "Exact", "e"), path("/p", "Prefix", "p")),
                annotations=REGEX,
            )
        ]
    )
    assert snapshot.matcher.match("h", "/e/x") is None
    assert snapshot.matcher.match("h", "/p/x").service == "p"  # type: ignore[union-attr]


def test_invalid_regex_refuses_the_ingress_and_keeps_others() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "bad", rule("h", path("/(unclosed", "ImplementationSpecific")), annotations=REGEX
            ),
            ingress("good", rule("h", path("/ok"))),
        ]
    )
    assert [r.ingress for r in snapshot.table.routes] == ["good"]
    [problem] = problems(snapshot)
    assert problem.name == "bad" and "not a valid regular expression" in problem.reason
