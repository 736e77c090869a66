"""Mirror annotations: nginx `mirror-target`/`-host`/`-request-body`, Higress
`mirror-target-service` and `mirror-percentage`."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.mirror import Mirror

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"


def mirror_of(annotations: dict[str, str]) -> Mirror | None:
    result = parse_all(annotations)
    assert result.errors == () and result.config is not None
    return result.config.mirror


@pytest.mark.parametrize(
    ("value", "scheme", "host", "port", "path"),
    [
        pytest.param("http://10.0.0.1:8080$request_uri", "http", "10.0.0.1", 8080, "$request_uri"),
        pytest.param(
            "https://mirror.test/$request_uri", "https", "mirror.test", 443, "/$request_uri"
        ),
        pytest.param("http://[fd00::1]:81", "http", "fd00::1", 81, None),
        pytest.param("http://m.test/copy?from=gw", "http", "m.test", 80, "/copy?from=gw"),
        pytest.param("http://m.test${request_uri}", "http", "m.test", 80, "$request_uri"),
    ],
)
def test_mirror_target_urls(
    value: str, scheme: str, host: str, port: int, path: str | None
) -> None:
    mirror = mirror_of({N + "mirror-target": value})
    assert mirror is not None and mirror.url is not None and mirror.service is None
    url = mirror.url
    assert (url.scheme, url.host, url.port) == (scheme, host, port)
    assert (url.path.text if url.path else None) == path
    assert mirror.request_body and mirror.percentage == 100 and mirror.host is None


def test_nginx_options() -> None:
    mirror = mirror_of(
        {
            N + "mirror-target": "http://m.test$request_uri",
            N + "mirror-request-body": "off",
            N + "mirror-host": "copies.test",
            N + "mirror-percentage": "25",
        }
    )
    assert mirror is not None
    assert (mirror.request_body, mirror.host, mirror.percentage) == (False, "copies.test", 25)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("shadow", (None, "shadow", None), id="name"),
        pytest.param("other/shadow", ("other", "shadow", None), id="namespace"),
        pytest.param("other/shadow:8080", ("other", "shadow", 8080), id="port"),
    ],
)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_mirror_target_service(value: str, expected: tuple[object, ...], prefix: str) -> None:
    mirror = mirror_of({prefix + "mirror-target-service": value})
    assert mirror == Mirror(service=expected)  # type: ignore[arg-type]


def test_mirror_target_wins_over_the_service_with_a_warning() -> None:
    annotations = {N + "mirror-target": "http://m.test", H + "mirror-target-service": "shadow"}
    result = parse_all(annotations)
    assert result.config is not None and result.config.mirror is not None
    assert result.config.mirror.url is not None and result.config.mirror.service is None
    [warning] = result.warnings
    assert warning.key == H + "mirror-target-service" and "mirror-target" in warning.reason


def test_options_alone_mirror_nothing() -> None:
    assert mirror_of({N + "mirror-request-body": "off", H + "mirror-percentage": "10"}) is None


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param(
            "mirror-target", "mirror.test/$request_uri", "http:// or https://", id="no-scheme"
        ),
        pytest.param("mirror-target", "ftp://m.test", "http:// or https://", id="scheme"),
        pytest.param("mirror-target", "http://m.test:70000/", "out of range", id="port"),
        pytest.param("mirror-target", "http://m.test$remote_user", "$remote_user", id="variable"),
        pytest.param("mirror-target", "http://m.test?x", "followed by a path", id="no-path"),
        pytest.param("mirror-request-body", "yes", '"on" or "off"', id="body"),
        pytest.param("mirror-target-service", "Shadow", "[namespace/]name[:port]", id="name"),
        pytest.param("mirror-target-service", "a/b:http", "not a port number", id="named-port"),
        pytest.param("mirror-percentage", "101", "0 to 100", id="percentage"),
        pytest.param("mirror-host", "a b", "not a host name", id="host"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason
