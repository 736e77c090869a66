"""IP access annotations (reference §1G, §2): which lists an Ingress sets, the older and MSE
names, and invalid values refusing the version."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.access import AccessControl, IpRules

N = "nginx.ingress.kubernetes.io/"
M = "mse.ingress.kubernetes.io/"


def parsed(annotations: dict[str, str]) -> AccessControl | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.access


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="nothing set"),
        pytest.param(
            {N + "whitelist-source-range": "10.0.0.0/8, 192.168.1.7"},
            AccessControl(IpRules(allow=("10.0.0.0/8", "192.168.1.7/32"))),
            id="whitelist, addresses normalised",
        ),
        pytest.param(
            {N + "allowlist-source-range": "10.0.0.0/8", N + "whitelist-source-range": "1.2.3.4"},
            AccessControl(IpRules(allow=("10.0.0.0/8",))),
            id="allowlist wins over whitelist",
        ),
        pytest.param(
            {N + "denylist-source-range": "10.1.0.0/16", M + "blacklist-source-range": "1.2.3.4"},
            AccessControl(IpRules(deny=("10.1.0.0/16",))),
            id="denylist wins over blacklist",
        ),
        pytest.param(
            {M + "blacklist-source-range": "2001:db8::/32"},
            AccessControl(IpRules(deny=("2001:db8::/32",))),
            id="MSE blacklist, IPv6",
        ),
        pytest.param(
            {
                M + "domain-whitelist-source-range": "10.0.0.0/8",
                M + "domain-blacklist-source-range": "10.9.0.0/16",
            },
            AccessControl(domain=IpRules(("10.0.0.0/8",), ("10.9.0.0/16",))),
            id="domain lists",
        ),
    ],
)  # fmt: skip
def test_lists(annotations: dict[str, str], expected: AccessControl | None) -> None:
    assert parsed(annotations) == expected


@pytest.mark.parametrize(
    "key",
    [
        "whitelist-source-range",
        "allowlist-source-range",
        "denylist-source-range",
        "blacklist-source-range",
        "domain-whitelist-source-range",
        "domain-blacklist-source-range",
    ],
)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("10.0.0.0/33", "not an IP address or CIDR block", id="bad prefix"),
        pytest.param("10.0.0.1, nonsense", "'nonsense' is not an IP", id="one bad item"),
        pytest.param(" , ", "empty list", id="empty"),
    ],
)
def test_an_invalid_list_refuses_the_version(key: str, value: str, reason: str) -> None:
    """A typo must never open a route that was closed: the version is not accepted."""
    result = parse_all({N + key: value})
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key and reason in error.reason


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    assert parsed({prefix + "denylist-source-range": "1.2.3.4"}) == AccessControl(
        IpRules(deny=("1.2.3.4/32",))
    )


def test_over_falls_back_per_kind() -> None:
    own = IpRules(deny=("1.0.0.0/8",))
    assert own.over(IpRules(("10.0.0.0/8",), ("2.0.0.0/8",))) == IpRules(
        ("10.0.0.0/8",), ("1.0.0.0/8",)
    )
