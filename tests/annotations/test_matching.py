"""Route conditions (Higress `match-method`, `*-match-header-*`, `*-match-query-*`): parsing."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.matching import Conditions, ValueCondition
from tests.objects import RequestStub

H = "higress.io/"


def parsed(annotations: dict[str, str]) -> Conditions | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.matching


def error(annotations: dict[str, str]) -> tuple[str, str]:
    result = parse_all(annotations)
    assert result.config is None
    [err] = result.errors
    return err.key, err.reason


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({H + "match-method": "GET"}, Conditions(("GET",)), id="one-method"),
        pytest.param(
            {H + "match-method": "post get, PUT GET"},
            Conditions(("GET", "POST", "PUT")),
            id="methods-upper-sorted-deduplicated",
        ),
        pytest.param(
            {H + "exact-match-header-X-User": "123"},
            Conditions(headers=(ValueCondition("exact", "x-user", "123"),)),
            id="header-name-lower-case",
        ),
        pytest.param(
            {H + "prefix-match-header-user-agent": "curl/"},
            Conditions(headers=(ValueCondition("prefix", "user-agent", "curl/"),)),
            id="header-prefix",
        ),
        pytest.param(
            {H + "regex-match-header-content-type": "application/(json|xml)"},
            Conditions(
                headers=(ValueCondition("regex", "content-type", "application/(json|xml)"),)
            ),
            id="header-regex",
        ),
        pytest.param(
            {H + "exact-match-query-Version": "v2", H + "regex-match-query-id": "[0-9]+"},
            Conditions(
                queries=(
                    ValueCondition("exact", "Version", "v2"),
                    ValueCondition("regex", "id", "[0-9]+"),
                )
            ),
            id="query-name-keeps-case",
        ),
        pytest.param(
            {H + "exact-match-header-x-empty": ""},
            Conditions(headers=(ValueCondition("exact", "x-empty", ""),)),
            id="empty-exact-value",
        ),
        pytest.param(
            {
                "nginx.ingress.kubernetes.io/exact-match-header-x-a": "nginx",
                H + "exact-match-header-x-a": "higress",
            },
            Conditions(headers=(ValueCondition("exact", "x-a", "nginx"),)),
            id="nginx-prefix-wins",
        ),
    ],
)
def test_parse(annotations: dict[str, str], expected: Conditions | None) -> None:
    assert parsed(annotations) == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    conditions = parsed({prefix + "match-method": "GET", prefix + "exact-match-query-a": "1"})
    assert conditions == Conditions(("GET",), queries=(ValueCondition("exact", "a", "1"),))


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("match-method", "GET FETCH", "FETCH is not a method", id="unknown-method"),
        pytest.param("match-method", "", "is empty", id="empty-methods"),
        pytest.param(
            "regex-match-header-x-a", "(unclosed", "not a valid regular expression", id="regex"
        ),
        pytest.param("regex-match-query-a", "", "is empty", id="empty-regex"),
        pytest.param("exact-match-header-x_user", "1", "could never hold", id="underscore-header"),
        pytest.param("exact-match-query-a", "a\x01", "control characters", id="control"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    found_key, found_reason = error({H + key: value})
    assert found_key == H + key
    assert reason in found_reason


def test_templated_keys_are_not_unknown() -> None:
    result = parse_all({H + "exact-match-header-x-a": "1", H + "suffix-match-header-x-a": "1"})
    assert [w.key for w in result.warnings] == [H + "suffix-match-header-x-a"]


def test_conditions_shape_a_canary_without_warning() -> None:
    """On a canary they pick the primary route it joins, so they are not 'ignored'."""
    result = parse_all(
        {
            "nginx.ingress.kubernetes.io/canary": "true",
            H + "match-method": "GET",
            H + "exact-match-header-x-a": "1",
            "nginx.ingress.kubernetes.io/rewrite-target": "/",
        }
    )
    assert [w.key for w in result.warnings] == ["nginx.ingress.kubernetes.io/rewrite-target"]


@pytest.mark.parametrize(
    ("annotations", "request_", "accepted"),
    [
        pytest.param({"match-method": "GET POST"}, RequestStub("POST"), True, id="method-in"),
        pytest.param({"match-method": "GET POST"}, RequestStub("PUT"), False, id="method-out"),
        pytest.param(
            {"exact-match-header-x-u": "1"}, RequestStub(headers={"x-u": "1"}), True, id="exact"
        ),
        pytest.param(
            {"exact-match-header-x-u": "1"},
            RequestStub(headers={"x-u": "12"}),
            False,
            id="exact-no",
        ),
        pytest.param({"exact-match-header-x-u": "1"}, RequestStub(), False, id="absent-header"),
        pytest.param(
            {"prefix-match-header-x-u": "ab"},
            RequestStub(headers={"x-u": "abc"}),
            True,
            id="prefix",
        ),
        pytest.param(
            {"prefix-match-header-x-u": "ab"},
            RequestStub(headers={"x-u": "Abc"}),
            False,
            id="prefix-case-sensitive",
        ),
        pytest.param(
            {"regex-match-header-x-u": "a+"}, RequestStub(headers={"x-u": "aaa"}), True, id="regex"
        ),
        pytest.param(
            {"regex-match-header-x-u": "a+"},
            RequestStub(headers={"x-u": "aaab"}),
            False,
            id="regex-whole-value",
        ),
        pytest.param(
            {"exact-match-query-v": "2", "match-method": "GET"},
            RequestStub("GET", args={"v": "2"}),
            True,
            id="all-hold",
        ),
        pytest.param(
            {"exact-match-query-v": "2", "match-method": "GET"},
            RequestStub("POST", args={"v": "2"}),
            False,
            id="one-fails",
        ),
    ],
)
def test_accepts(annotations: dict[str, str], request_: RequestStub, accepted: bool) -> None:
    conditions = parsed({H + k: v for k, v in annotations.items()})
    assert conditions is not None
    assert conditions.accepts(request_) is accepted
