"""MSE connection-policy annotations."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.connections import ConnectionPolicy

M = "mse.ingress.kubernetes.io/"
KEY = "connection-policy-"


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({M + KEY + "tcp-max-connection": "10"}, ConnectionPolicy(10), id="service"),
        pytest.param(
            {M + KEY + "tcp-max-connection-per-endpoint": "2"},
            ConnectionPolicy(max_per_endpoint=2),
            id="endpoint",
        ),
        pytest.param(
            {M + KEY + "http-max-request-per-connection": "100"},
            ConnectionPolicy(max_requests=100),
            id="requests",
        ),
        pytest.param({M + KEY + "tcp-max-connection": "0"}, None, id="zero-is-none"),
    ],
)
def test_parse(annotations: dict[str, str], expected: ConnectionPolicy | None) -> None:
    result = parse_all(annotations)
    assert result.errors == () and result.warnings == () and result.config is not None
    assert result.config.connections == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all({prefix + KEY + "tcp-max-connection": "3"})
    assert result.config is not None and result.config.connections == ConnectionPolicy(3)


@pytest.mark.parametrize("suffix", ["tcp-max-connection", "http-max-request-per-connection"])
def test_invalid(suffix: str) -> None:
    result = parse_all({M + KEY + suffix: "many"})
    assert result.config is None
    [err] = result.errors
    assert err.key == M + KEY + suffix and "not a whole number" in err.reason
