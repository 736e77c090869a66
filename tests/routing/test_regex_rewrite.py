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


# --- Higress: rewrite-path, full-path-regex, ignore-path-case ---------------------------------
H = "higress.io/"


@pytest.mark.parametrize(
    ("rule_path", "path_type", "replacement", "request_path", "upstream"),
    [
        pytest.param("/v1", "Prefix", "/v2", "/v1/a", "/v2/a", id="prefix"),
        pytest.param("/v1", "Prefix", "/v2", "/v1", "/v2", id="prefix-itself"),
        pytest.param("/v1/", "Prefix", "/v2", "/v1/a/b", "/v2/a/b", id="rule-trailing-slash"),
        pytest.param("/v1", "Prefix", "/", "/v1/a", "/a", id="strip-prefix"),
        pytest.param("/v1", "Prefix", "/", "/v1", "/", id="strip-prefix-itself"),
        pytest.param("/v1", "Prefix", "/v2/", "/v1/a", "/v2/a", id="replacement-slash"),
        pytest.param("/", "Prefix", "/app", "/x/y", "/app/x/y", id="catch-all"),
        pytest.param("/old", "Exact", "/new", "/old", "/new", id="exact-whole-path"),
        pytest.param("/v1", "ImplementationSpecific", "/v2", "/v1/a", "/v2/a", id="impl-prefix"),
    ],
)
def test_rewrite_path_replaces_the_matched_part(
    rule_path: str, path_type: str, replacement: str, request_path: str, upstream: str
) -> None:
    annotations = {H + "rewrite-path": replacement}
    assert _rewritten(annotations, rule_path, request_path, path_type) == upstream


def test_rewrite_path_on_a_regex_path_replaces_the_match() -> None:
    annotations = {H + "rewrite-path": "/v2", **REGEX}
    assert _rewritten(annotations, "/v[0-9]+", "/V1/users") == "/v2/users"


def test_rewrite_path_wins_over_rewrite_target() -> None:
    annotations = {H + "rewrite-path": "/new", **REWRITE}
    assert _rewritten(annotations, "/old", "/old/x", "Prefix") == "/new/x"


@pytest.mark.parametrize(
    ("request_path", "served"),
    [
        pytest.param("/api/v2", True, id="whole"),
        pytest.param("/API/V2", True, id="case-insensitive-as-nginx"),
        pytest.param("/api/v2/users", False, id="longer-not-served"),
    ],
)
def test_full_path_regex_anchors_both_ends(request_path: str, served: bool) -> None:
    annotations = {H + "full-path-regex": "true"}
    got = _rewritten(annotations, "/api/v[0-9]+", request_path)
    assert (got is not None) is served


@pytest.mark.parametrize(
    ("rule_path", "path_type", "request_path", "served"),
    [
        pytest.param("/Api", "Exact", "/aPI", True, id="exact"),
        pytest.param("/Api", "Exact", "/api/x", False, id="exact-stays-exact"),
        pytest.param("/Api", "Prefix", "/API/users", True, id="prefix"),
        pytest.param("/Api", "Prefix", "/apix", False, id="prefix-stays-element-wise"),
    ],
)
def test_ignore_path_case(rule_path: str, path_type: str, request_path: str, served: bool) -> None:
    annotations = {H + "ignore-path-case": "true"}
    assert (_rewritten(annotations, rule_path, request_path, path_type) is not None) is served


def test_ignore_path_case_is_confined_to_its_ingress_and_exact_case_wins_ties() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "loose",
                rule("h", path("/api"), path("/docs")),
                annotations={H + "ignore-path-case": "true"},
            ),
            ingress("strict", rule("h", path("/API"), path("/Other"))),
        ]
    )
    assert problems(snapshot) == []
    for request, owner in [("/API/x", "strict"), ("/Api/x", "loose"), ("/DOCS", "loose")]:
        route = snapshot.matcher.match("h", request)
        assert route is not None and route.ingress == owner, request
    assert snapshot.matcher.match("h", "/other") is None


# --- host-wide-regex: ingress-nginx's behaviour, on request ------------------------------------
GLOBAL = ("default", "gateway-config")


def _configmap(host_wide: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gateway-config", "namespace": "default"},
        "data": {"host-wide-regex": host_wide},
    }


HOST_WIDE_OBJECTS = [
    ingress(
        "regex",
        rule("h", path("/r.+", "ImplementationSpecific", service="regex")),
        annotations=REGEX,
    ),
    ingress(
        "plain", rule("h", path("/foo", "Exact", service="plain"), path("/bar", service="plain"))
    ),
    ingress("other-host", rule("g", path("/foo", "Exact", service="other"))),
]


def test_host_wide_regex_turns_every_path_of_the_host_into_a_regex() -> None:
    snapshot = compile_objects([*HOST_WIDE_OBJECTS, _configmap("true")], configmap=GLOBAL)
    assert problems(snapshot) == []
    served = {
        request: (route.ingress if (route := snapshot.matcher.match(host, request)) else None)
        for host, request in [("h", "/FOO/more"), ("h", "/barbaz"), ("h", "/rx"), ("g", "/FOO")]
    }
    # Exact /foo behaves as a case-insensitive prefix (ingress-nginx #8208), Prefix /bar as a
    # string prefix; other hosts keep the spec's semantics.
    assert served == {"/FOO/more": "plain", "/barbaz": "plain", "/rx": "regex", "/FOO": None}


def test_host_wide_regex_off_by_default_and_flipping_it_recompiles() -> None:
    confined = compile_objects([*HOST_WIDE_OBJECTS, _configmap("false")], configmap=GLOBAL)
    assert confined.matcher.match("h", "/FOO/more") is None
    assert confined.matcher.match("h", "/barbaz") is None
    wide = compile_objects(
        [*HOST_WIDE_OBJECTS, _configmap("true")], configmap=GLOBAL, previous=confined
    )
    assert wide.table is not confined.table
    assert wide.matcher.match("h", "/FOO/more") is not None
