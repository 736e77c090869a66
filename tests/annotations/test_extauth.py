"""External-auth annotations: defaults, cache durations, and values that refuse the version."""

from __future__ import annotations

import pytest

from annotations import parse_all
from annotations.extauth import ExternalAuth, cache_durations

N = "nginx.ingress.kubernetes.io/"
URL = {N + "auth-url": "https://auth.example.com/check"}


def parsed(annotations: dict[str, str]) -> ExternalAuth | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.extauth


def test_defaults() -> None:
    auth = parsed(URL)
    assert auth is not None
    assert (auth.method, auth.signin, auth.signin_param, auth.response_headers) == (
        "GET", None, "rd", ()
    )  # fmt: skip
    assert (auth.keepalive, auth.keepalive_requests, auth.keepalive_timeout) == (0, 1000, 60.0)
    assert auth.cache_seconds(200) == 0  # no cache key: nothing is cached


def test_cache_durations() -> None:
    assert cache_durations("200 202 401 5m") == ((frozenset({200, 202, 401}), 300.0),)
    assert cache_durations("10m, 401 30s") == (
        (frozenset({200, 301, 302}), 600.0),
        (frozenset({401}), 30.0),
    )
    auth = parsed({**URL, N + "auth-cache-key": "$remote_user$http_authorization"})
    assert auth is not None
    assert (auth.cache_seconds(200), auth.cache_seconds(401), auth.cache_seconds(403)) == (
        300.0, 300.0, 0.0
    )  # fmt: skip


def test_settings_without_auth_url_are_warnings() -> None:
    result = parse_all({N + "auth-signin": "https://login.example.com"})
    assert result.config is not None and result.config.extauth is None
    [warning] = result.warnings
    assert warning.key == N + "auth-signin"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("auth-url", "auth.example.com/check"),
        ("auth-url", "https://auth.example.com/$nope"),
        ("auth-method", "FETCH"),
        ("auth-signin", "/login"),
        ("auth-signin-redirect-param", "a b"),
        ("auth-response-headers", "X-User, X User"),
        ("auth-cache-key", "constant"),
        ("auth-cache-duration", "5 minutes"),
        ("auth-keepalive", "-1"),
        ("auth-keepalive-timeout", "soon"),
        ("auth-proxy-set-headers", "Bad_Name"),
    ],
)
def test_an_invalid_value_refuses_the_version(key: str, value: str) -> None:
    result = parse_all({**URL, N + key: value})
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key
