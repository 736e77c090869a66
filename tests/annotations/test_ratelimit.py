"""Rate-limit annotations: nginx `limit-*` (per client) and Higress `route-limit-*` (per route)."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.ratelimit import Rate, RateLimits

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param(
            {N + "limit-rps": "10"}, RateLimits((Rate("rps", 10, 50),)), id="rps-default-burst"
        ),
        pytest.param(
            {N + "limit-rpm": "120", N + "limit-burst-multiplier": "2"},
            RateLimits((Rate("rpm", 2.0, 240),)),
            id="rpm",
        ),
        pytest.param(
            {N + "limit-rps": "5", N + "limit-rpm": "60"},
            RateLimits((Rate("rps", 5, 25), Rate("rpm", 1.0, 300))),
            id="both-apply",
        ),
        pytest.param({N + "limit-connections": "3"}, RateLimits(connections=3), id="connections"),
        pytest.param(
            {N + "limit-rps": "1", N + "limit-whitelist": "10.0.0.1, 192.168.0.0/16"},
            RateLimits((Rate("rps", 1, 5),), exempt=("10.0.0.1/32", "192.168.0.0/16")),
            id="whitelist",
        ),
        pytest.param(
            {
                N + "limit-rps": "1",
                N + "limit-whitelist": "10.0.0.0/8",
                N + "limit-allowlist": "172.16.0.0/12",
            },
            RateLimits((Rate("rps", 1, 5),), exempt=("172.16.0.0/12",)),
            id="allowlist-wins",
        ),
        pytest.param(
            {H + "route-limit-rps": "100"},
            RateLimits(route_rate=Rate("route", 100, 500)),
            id="route-rps",
        ),
        pytest.param(
            {
                H + "route-limit-rps": "100",
                H + "route-limit-rpm": "600",
                H + "route-limit-burst-multiplier": "1",
            },
            RateLimits(route_rate=Rate("route", 10.0, 600)),
            id="route-rpm-wins",
        ),
        pytest.param({N + "limit-rps": "0"}, None, id="zero-is-off"),
        pytest.param({N + "limit-whitelist": "10.0.0.0/8"}, None, id="list-alone"),
        pytest.param({N + "limit-burst-multiplier": "3"}, None, id="multiplier-alone"),
    ],
)
def test_parse(annotations: dict[str, str], expected: RateLimits | None) -> None:
    result = parse_all(annotations)
    assert result.errors == () and result.warnings == () and result.config is not None
    assert result.config.ratelimit == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all({prefix + "limit-rps": "2", prefix + "route-limit-rps": "7"})
    assert result.config is not None
    assert result.config.ratelimit == RateLimits(
        (Rate("rps", 2, 10),), route_rate=Rate("route", 7, 35)
    )


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("limit-rps", "ten", "not a whole number", id="rps"),
        pytest.param("limit-rpm", "-5", "not a whole number", id="rpm-negative"),
        pytest.param("limit-connections", "1.5", "not a whole number", id="connections"),
        pytest.param("limit-burst-multiplier", "0", "at least 1", id="multiplier-zero"),
        pytest.param("limit-whitelist", "10.0.0.0/33", "not an IP address", id="cidr"),
        pytest.param("limit-allowlist", " , ", "empty list", id="empty-list"),
        pytest.param("route-limit-rps", "1e3", "not a whole number", id="route-rps"),
        pytest.param("route-limit-burst-multiplier", "0", "at least 1", id="route-multiplier"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    """An invalid value refuses the Ingress version even when the key would be unused."""
    result = parse_all({N + "limit-rps": "5", N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason


def test_a_canary_ingress_has_no_limits_of_its_own() -> None:
    """Its requests are counted by the primary route's limits (ingress-nginx)."""
    result = parse_all({N + "canary": "true", N + "canary-weight": "10", N + "limit-rps": "5"})
    assert [w.key for w in result.warnings] == [N + "limit-rps"]
    assert "no effect on a canary" in result.warnings[0].reason
