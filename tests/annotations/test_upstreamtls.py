"""`backend-protocol` and `proxy-ssl-*` (reference §1J): values, defaults and refusals."""

from __future__ import annotations

import pytest

from annotations import parse_all
from annotations.upstreamtls import UpstreamTls

N = "nginx.ingress.kubernetes.io/"


def parsed(annotations: dict[str, str]) -> UpstreamTls | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.upstreamtls


def test_plain_http_unless_https() -> None:
    assert parsed({}) is None
    assert parsed({N + "backend-protocol": "AUTO_HTTP"}) is None
    assert parsed({N + "backend-protocol": "http", N + "proxy-ssl-verify": "on"}) is None


def test_https_with_nginx_defaults() -> None:
    tls = parsed({N + "backend-protocol": "https"})
    assert tls == UpstreamTls(None, False, None, False, ("TLSv1.2", "TLSv1.3"), "DEFAULT", 1)


def test_every_key() -> None:
    tls = parsed(
        {
            N + "backend-protocol": "HTTPS",
            N + "proxy-ssl-secret": "certs/pod",
            N + "proxy-ssl-verify": "on",
            N + "proxy-ssl-name": "Pod.Internal",
            N + "proxy-ssl-server-name": "on",
            N + "proxy-ssl-protocols": "TLSv1.3 TLSv1.2",
            N + "proxy-ssl-ciphers": "HIGH:!aNULL",
            N + "proxy-ssl-verify-depth": "2",
        }
    )
    assert tls == UpstreamTls(
        ("certs", "pod"), True, "pod.internal", True, ("TLSv1.2", "TLSv1.3"), "HIGH:!aNULL", 2
    )


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("backend-protocol", "GRPC", "not supported"),
        ("backend-protocol", "FCGI", "not supported"),
        ("backend-protocol", "SPDY", "is not one of"),
        ("proxy-ssl-verify", "yes", '"on" or "off"'),
        ("proxy-ssl-protocols", "SSLv3 TLSv1.2", "is not one of"),
        ("proxy-ssl-ciphers", "NOPE", "names no cipher"),
        ("proxy-ssl-verify-depth", "0", "from 1 to 100"),
        ("proxy-ssl-name", "a b", "not a host name"),
    ],
)
def test_invalid_values_refuse_the_ingress(key: str, value: str, reason: str) -> None:
    result = parse_all({N + "backend-protocol": "HTTPS", N + key: value})
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key and reason in error.reason
