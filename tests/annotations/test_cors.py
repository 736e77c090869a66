"""CORS annotations (reference §1C): defaults, origin matching and invalid values."""

from __future__ import annotations

import pytest

from annotations import parse_all
from annotations.cors import Cors

N = "nginx.ingress.kubernetes.io/"
ON = {N + "enable-cors": "true"}


def parsed(annotations: dict[str, str]) -> Cors | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.cors


def test_off_unless_enabled() -> None:
    assert parsed({}) is None
    assert parsed({N + "cors-allow-origin": "https://a.test"}) is None
    assert parsed({N + "enable-cors": "false"}) is None


def test_defaults_are_ingress_nginx_s() -> None:
    cors = parsed(ON)
    assert cors is not None
    assert cors.origins == ("*",) and cors.allows("https://anything.test")
    assert cors.lines.decode().split("\r\n") == [
        "Access-Control-Allow-Credentials: true",
        "Access-Control-Allow-Methods: GET, PUT, POST, DELETE, PATCH, OPTIONS",
        "Access-Control-Allow-Headers: DNT, Keep-Alive, User-Agent, X-Requested-With, "
        "If-Modified-Since, Cache-Control, Content-Type, Range, Authorization",
        "Access-Control-Max-Age: 1728000",
        "",
    ]


def test_every_setting_reaches_the_headers() -> None:
    cors = parsed(
        {
            **ON,
            N + "cors-allow-methods": "GET,POST",
            N + "cors-allow-headers": "X-One,x_two",
            N + "cors-expose-headers": "X-Total, X-Page",
            N + "cors-allow-credentials": "false",
            N + "cors-max-age": "60",
        }
    )
    assert cors is not None
    assert cors.lines.decode().split("\r\n") == [
        "Access-Control-Allow-Methods: GET, POST",
        "Access-Control-Allow-Headers: X-One, x_two",
        "Access-Control-Expose-Headers: X-Total, X-Page",
        "Access-Control-Max-Age: 60",
        "",
    ]


@pytest.mark.parametrize(
    ("allowed", "origin", "matches"),
    [
        ("https://a.test", "https://a.test", True),
        ("https://a.test", "HTTPS://A.TEST", True),
        ("https://a.test", "http://a.test", False),
        ("https://a.test", "https://a.test:8443", False),
        ("https://a.test", "https://a.testx", False),
        ("https://a.test", "https://xa.test", False),
        ("https://a.test:8443", "https://a.test:8443", True),
        ("https://a.test, http://b.test", "http://b.test", True),
        ("https://*.a.test", "https://x.a.test", True),
        ("https://*.a.test", "https://x.y.a.test", False),
        ("https://*.a.test", "https://a.test", False),
        ("https://*.a.test", "https://x-a.test", False),
        ("https://*.a.test:8443", "https://x.a.test:8443", True),
        ("https://*.a.test:8443", "https://x.a.test", False),
        ("null", "null", True),
        ("https://a.test", "null", False),
        ("https://a.test, *", "https://other.test", True),
    ],
)
def test_origin_matching(allowed: str, origin: str, matches: bool) -> None:
    cors = parsed({**ON, N + "cors-allow-origin": allowed})
    assert cors is not None
    assert cors.allows(origin) is matches


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("enable-cors", "yes"),
        ("cors-allow-origin", "a.test"),
        ("cors-allow-origin", "https://a.test/path"),
        ("cors-allow-origin", "https://*.*.a.test"),
        ("cors-allow-origin", " , "),
        ("cors-allow-methods", "GET, P0ST"),
        ("cors-allow-headers", "X-Ok, X Bad"),
        ("cors-expose-headers", "X-Ok\r\nX-Injected: 1"),
        ("cors-max-age", "-1"),
        ("cors-allow-credentials", "maybe"),
    ],
)
def test_an_invalid_value_refuses_the_version(key: str, value: str) -> None:
    result = parse_all({**ON, N + key: value})
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key
