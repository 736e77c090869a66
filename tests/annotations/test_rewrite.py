"""Rewrite-group parsing: nginx `use-regex`/`rewrite-target` and Higress `rewrite-path`,
`full-path-regex`, `ignore-path-case`."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.rewrite import Rewrite

N, H = "nginx.ingress.kubernetes.io/", "higress.io/"


def parsed(annotations: dict[str, str]) -> Rewrite | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.rewrite


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({H + "rewrite-path": "/v2"}, Rewrite(False, None, "/v2"), id="rewrite-path"),
        pytest.param(
            {H + "rewrite-path": "/v2", N + "rewrite-target": "/$1"},
            Rewrite(False, None, "/v2"),
            id="rewrite-path-wins-no-regex",
        ),
        pytest.param(
            {H + "full-path-regex": "true"},
            Rewrite(True, None, full_match=True),
            id="full-path-regex-implies-regex",
        ),
        pytest.param(
            {H + "ignore-path-case": "true"},
            Rewrite(False, None, ignore_case=True),
            id="ignore-path-case",
        ),
        pytest.param(
            {N + "rewrite-target": "/$2", H + "ignore-path-case": "true"},
            Rewrite(True, "/$2", ignore_case=True),
            id="combined",
        ),
    ],
)
def test_parse(annotations: dict[str, str], expected: Rewrite) -> None:
    assert parsed(annotations) == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    assert parsed({prefix + "rewrite-path": "/x"}) == Rewrite(False, None, "/x")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("rewrite-path", "v2", "must start with '/'", id="relative"),
        pytest.param("rewrite-path", "$1", "must start with '/'", id="group-only"),
        pytest.param("rewrite-path", "/a/$1", "static path", id="group"),
        pytest.param("rewrite-path", "/a b", "white space", id="blank"),
        pytest.param("full-path-regex", "yes", "not a boolean", id="full-bool"),
        pytest.param("ignore-path-case", "on", "not a boolean", id="case-bool"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({H + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == H + key and reason in err.reason


def test_rewrite_target_beside_rewrite_path_is_a_warning() -> None:
    result = parse_all({H + "rewrite-path": "/v2", N + "rewrite-target": "/$1"})
    assert [(w.key, w.reason) for w in result.warnings] == [
        (N + "rewrite-target", "is ignored because rewrite-path is set")
    ]
