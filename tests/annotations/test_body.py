"""Body annotations: `proxy-body-size`, `client-body-buffer-size` and the buffering switches."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.body import BodyLimits

N = "nginx.ingress.kubernetes.io/"


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({N + "proxy-body-size": "8m"}, BodyLimits(8 * 1024**2), id="8m"),
        pytest.param({N + "proxy-body-size": "0"}, BodyLimits(0), id="unlimited"),
        pytest.param(
            {N + "client-body-buffer-size": "128K"}, BodyLimits(keep=128 * 1024), id="keep"
        ),
        pytest.param({N + "proxy-buffering": "off"}, None, id="switch-alone"),
    ],
)
def test_parse(annotations: dict[str, str], expected: BodyLimits | None) -> None:
    result = parse_all(annotations)
    assert result.errors == () and result.config is not None
    assert result.config.body == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all({prefix + "proxy-body-size": "1k"})
    assert result.config is not None and result.config.body == BodyLimits(1024)


@pytest.mark.parametrize("key", ["proxy-buffering", "proxy-request-buffering"])
def test_buffering_on_is_accepted_with_a_warning(key: str) -> None:
    result = parse_all({N + key: "on"})
    assert result.config is not None
    [warning] = result.warnings
    assert warning.key == N + key and "streams bodies" in warning.reason
    assert parse_all({N + key: "off"}).warnings == ()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("proxy-body-size", "1 MB", "not a size", id="size"),
        pytest.param("proxy-body-size", "-1", "not a size", id="negative"),
        pytest.param("client-body-buffer-size", "0", "at least one byte", id="zero-buffer"),
        pytest.param("proxy-buffering", "yes", '"on" or "off"', id="switch"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason
