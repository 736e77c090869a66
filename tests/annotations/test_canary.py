"""Canary annotations: parse table, warnings and prefixes (reference §3.1, §3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from annotations import PREFIXES, parse_all
from annotations.canary import Canary, Selector

N = "nginx.ingress.kubernetes.io/"


def canary_of(**keys: str) -> Any:
    """`parse_all` of a canary Ingress with these keys (underscores for dashes)."""
    return parse_all({N + "canary": "true"} | {N + k.replace("_", "-"): v for k, v in keys.items()})


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param({}, Canary(), id="switch-only"),
        pytest.param(
            {"canary_by_header": "X-Canary"}, Canary(header=Selector("X-Canary")), id="header"
        ),
        pytest.param(
            {"canary_by_header": "X-Canary", "canary_by_header_value": "v2"},
            Canary(header=Selector("X-Canary", "v2")),
            id="header-value",
        ),
        pytest.param(
            {"canary_by_cookie": "beta", "canary_by_cookie_value": "yes"},
            Canary(cookie=Selector("beta", "yes")),
            id="cookie-value",
        ),
        pytest.param(
            {"canary_by_query": "ver", "canary_by_query_value": "2"},
            Canary(query=Selector("ver", "2")),
            id="query-value",
        ),
        pytest.param({"canary_weight": "30"}, Canary(weight=30), id="weight"),
        pytest.param(
            {"canary_weight": "30", "canary_weight_total": "1000"},
            Canary(weight=30, weight_total=1000),
            id="weight-total-above-100",
        ),
        pytest.param(
            {"canary_weight": "5", "canary_weight_total": "10"},
            Canary(weight=5, weight_total=100),
            id="weight-total-below-100-counts-as-100",
        ),
    ],
)
def test_valid(keys: dict[str, str], expected: Canary) -> None:
    result = canary_of(**keys)
    assert result.errors == ()
    assert result.config is not None and result.config.canary == expected


def test_pattern_is_compiled_and_searched() -> None:
    result = canary_of(canary_by_header="X-Ver", canary_by_header_pattern="^v(2|3)")
    assert result.config is not None
    selector = result.config.canary.header
    assert selector.pattern is not None and selector.value is None
    assert selector.verdict("v3-beta") is True
    assert selector.verdict("xv2") is None
    # unanchored: a partial match is enough, as nginx's ngx.re.match
    unanchored = canary_of(canary_by_header="X-Ver", canary_by_header_pattern="beta")
    assert unanchored.config.canary.header.verdict("v3-beta-1") is True


@pytest.mark.parametrize(
    ("keys", "key", "reason"),
    [
        pytest.param({"canary": "yes"}, "canary", "not a boolean", id="switch-not-boolean"),
        pytest.param(
            {"canary_weight": "-1"}, "canary-weight", "whole number", id="weight-negative"
        ),
        pytest.param({"canary_weight": "1.5"}, "canary-weight", "whole number", id="weight-float"),
        pytest.param(
            {"canary_weight_total": "many"}, "canary-weight-total", "whole number", id="total-word"
        ),
        pytest.param(
            {"canary_by_header": "X Canary"},
            "canary-by-header",
            "not a valid name",
            id="header-space",
        ),
        pytest.param({"canary_by_header": ""}, "canary-by-header", "empty", id="header-empty"),
        pytest.param(
            {"canary_by_header": "X-V", "canary_by_header_pattern": "(unclosed"},
            "canary-by-header-pattern",
            "not a valid regular expression",
            id="pattern-broken",
        ),
        pytest.param(
            {"canary_by_query": "v", "canary_by_query_pattern": "[a-"},
            "canary-by-query-pattern",
            "not a valid regular expression",
            id="query-pattern-broken",
        ),
        pytest.param(
            {"canary_by_cookie": "a;b"},
            "canary-by-cookie",
            "not a valid name",
            id="cookie-semicolon",
        ),
        pytest.param(
            {"canary_by_header": "X-V", "canary_by_header_value": "a\nb"},
            "canary-by-header-value",
            "control characters",
            id="value-newline",
        ),
    ],
)
def test_invalid_refuses_the_version_naming_the_key(
    keys: dict[str, str], key: str, reason: str
) -> None:
    result = canary_of(**keys)
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key
    assert reason in error.reason


@pytest.mark.parametrize(
    ("annotations", "key", "reason"),
    [
        pytest.param(
            {N + "canary-weight": "20"},
            N + "canary-weight",
            'canary is not "true"',
            id="selector-without-canary",
        ),
        pytest.param(
            {N + "canary": "false", N + "canary-by-header": "X"},
            N + "canary-by-header",
            'canary is not "true"',
            id="selector-with-canary-false",
        ),
        pytest.param(
            {N + "canary": "true", N + "canary-by-header-value": "v"},
            N + "canary-by-header-value",
            "without canary-by-header",
            id="value-without-header",
        ),
        pytest.param(
            {
                N + "canary": "true",
                N + "canary-by-header": "X",
                N + "canary-by-header-value": "v",
                N + "canary-by-header-pattern": "p",
            },
            N + "canary-by-header-pattern",
            "ignored because canary-by-header-value",
            id="pattern-and-value",
        ),
        pytest.param(
            {N + "canary": "true", N + "canary-weight": "5", N + "canary-weight-total": "10"},
            N + "canary-weight-total",
            "counts as 100",
            id="total-below-100",
        ),
        pytest.param(
            {N + "canary": "true", N + "canary-weight": "150"},
            N + "canary-weight",
            "every request is canaried",
            id="weight-above-total",
        ),
        pytest.param(
            {N + "canary": "true", N + "rewrite-target": "/"},
            N + "rewrite-target",
            "no effect on a canary Ingress",
            id="policy-on-canary",
        ),
    ],
)
def test_warnings(annotations: dict[str, str], key: str, reason: str) -> None:
    result = parse_all(annotations)
    assert result.errors == ()
    assert result.config is not None
    assert [(w.key, reason in w.reason) for w in result.warnings] == [(key, True)]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all(
        {prefix + "canary": "true", prefix + "canary-by-query": "v", prefix + "canary-weight": "7"}
    )
    assert result.config is not None
    assert result.config.canary == Canary(query=Selector("v"), weight=7)


def test_weight_share_is_weight_over_total() -> None:
    assert Canary(weight=30).share == 0.3
    assert Canary(weight=30, weight_total=1000).share == 0.03
    assert Canary(weight=200).share == 1.0
