"""Timeout annotations: nginx per-I/O timeouts and Higress's whole-request `timeout`."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.timeouts import Timeouts

N = "nginx.ingress.kubernetes.io/"


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({N + "proxy-read-timeout": "120"}, Timeouts(read=120.0), id="read"),
        pytest.param(
            {N + "proxy-connect-timeout": "500ms", N + "proxy-send-timeout": "2m"},
            Timeouts(connect=0.5, send=120.0),
            id="units",
        ),
        pytest.param({"higress.io/timeout": "30"}, Timeouts(total=30.0), id="higress-total"),
        pytest.param({"higress.io/timeout": "0"}, Timeouts(), id="total-zero-is-none"),
    ],
)
def test_parse(annotations: dict[str, str], expected: Timeouts | None) -> None:
    result = parse_all(annotations)
    assert result.errors == () and result.config is not None
    assert result.config.timeouts == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all({prefix + "timeout": "5"})
    assert result.config is not None and result.config.timeouts == Timeouts(total=5.0)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("proxy-read-timeout", "0", "above zero", id="zero-read"),
        pytest.param("proxy-connect-timeout", "5x", "not a duration", id="unit"),
        pytest.param("timeout", "-1", "not a duration", id="negative-total"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason
