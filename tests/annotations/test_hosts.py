"""Hosts and fallbacks parsing: `server-alias`, `default-backend`, `custom-http-errors`."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.hosts import HostsAndFallbacks

N = "nginx.ingress.kubernetes.io/"


def parsed(**keys: str) -> HostsAndFallbacks | None:
    result = parse_all({N + k.replace("_", "-"): v for k, v in keys.items()})
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.hosts


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param(
            {"server_alias": "www.shop.test, Shop.example.,*.shop.test www.shop.test"},
            HostsAndFallbacks(aliases=("www.shop.test", "shop.example", "*.shop.test")),
            id="aliases-lower-deduplicated",
        ),
        pytest.param(
            {"default_backend": "errors"},
            HostsAndFallbacks(default_backend=(None, "errors")),
            id="backend-own-namespace",
        ),
        pytest.param(
            {"default_backend": "shared/errors"},
            HostsAndFallbacks(default_backend=("shared", "errors")),
            id="backend-namespace-name",
        ),
        pytest.param(
            {"custom_http_errors": "404, 503,404"},
            HostsAndFallbacks(error_codes=frozenset({404, 503})),
            id="codes",
        ),
    ],
)
def test_parse(keys: dict[str, str], expected: HostsAndFallbacks | None) -> None:
    assert parsed(**keys) == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all({prefix + "server-alias": "a.test"})
    assert result.config is not None and result.config.hosts == HostsAndFallbacks(("a.test",))


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("server-alias", "bad_host.test", "not a host name", id="underscore"),
        pytest.param("server-alias", "a.*.test", "not a host name", id="inner-wildcard"),
        pytest.param("server-alias", "", "is empty", id="empty"),
        pytest.param("default-backend", "Errors", "not a Service name", id="upper-case"),
        pytest.param("default-backend", "a/b/c", "not a Service name", id="two-slashes"),
        pytest.param("default-backend", "errors:80", "not a Service name", id="port"),
        pytest.param("custom-http-errors", "404,abc", "'abc' is not a status", id="word"),
        pytest.param("custom-http-errors", "200", "'200' is not a status", id="success"),
        pytest.param("custom-http-errors", "404,", "'' is not a status", id="trailing-comma"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason
