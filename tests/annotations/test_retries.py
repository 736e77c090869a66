"""Retry annotations: `proxy-next-upstream`, `-tries`, `-timeout` (reference §1E)."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.retries import Retries

N = "nginx.ingress.kubernetes.io/"


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param(
            {N + "proxy-next-upstream": "error timeout http_503"},
            Retries(frozenset({"error", "timeout", "http_503"})),
            id="blank-separated",
        ),
        pytest.param(
            {N + "proxy-next-upstream": "http_502,http_504, non_idempotent"},
            Retries(frozenset({"http_502", "http_504", "non_idempotent"})),
            id="comma-separated",
        ),
        pytest.param({N + "proxy-next-upstream": "off"}, Retries(frozenset({"off"})), id="off"),
        pytest.param({N + "proxy-next-upstream-tries": "0"}, Retries(tries=0), id="tries-0"),
        pytest.param(
            {N + "proxy-next-upstream-timeout": "10"}, Retries(timeout=10.0), id="timeout"
        ),
    ],
)
def test_parse(annotations: dict[str, str], expected: Retries | None) -> None:
    result = parse_all(annotations)
    assert result.errors == () and result.config is not None
    assert result.config.retries == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all({prefix + "proxy-next-upstream-tries": "5"})
    assert result.config is not None and result.config.retries == Retries(tries=5)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("proxy-next-upstream", "http_418", "use any of", id="unknown-status"),
        pytest.param("proxy-next-upstream", "", "use any of", id="empty"),
        pytest.param("proxy-next-upstream", "off error", "cannot be combined", id="off-and"),
        pytest.param("proxy-next-upstream-tries", "-1", "not a whole number", id="tries"),
        pytest.param("proxy-next-upstream-timeout", "soon", "not a duration", id="timeout"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason
