"""Redirect annotations: parse table (reference §1B) and URL expansion."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.redirect import Redirect, Redirects, url_template
from routing.redirect import RequestLine, redirect_for

N = "nginx.ingress.kubernetes.io/"


def parsed(**keys: str) -> Redirects | None:
    result = parse_all({N + k.replace("_", "-"): v for k, v in keys.items()})
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.redirect


@pytest.mark.parametrize(
    ("keys", "code", "url"),
    [
        pytest.param(
            {"permanent_redirect": "https://new.test/"},
            301,
            "https://new.test/",
            id="permanent-default-301",
        ),
        pytest.param(
            {"permanent_redirect": "https://new.test", "permanent_redirect_code": "308"},
            308,
            "https://new.test",
            id="permanent-308",
        ),
        pytest.param(
            {"temporal_redirect": "http://t.test/x"},
            302,
            "http://t.test/x",
            id="temporal-default-302",
        ),
        pytest.param(
            {"temporal_redirect": "http://t.test", "temporal_redirect_code": "307"},
            307,
            "http://t.test",
            id="temporal-307",
        ),
        pytest.param(
            {"permanent_redirect": "https://p.test", "temporal_redirect": "https://t.test"},
            302,
            "https://t.test",
            id="temporal-wins",
        ),
        pytest.param(
            {"permanent_redirect": "https://new.test${request_uri}"},
            301,
            "https://new.test$request_uri",
            id="braced-variable",
        ),
        pytest.param(
            {"permanent_redirect": "$scheme://new.test$uri$is_args$args"},
            301,
            "$scheme://new.test$uri$is_args$args",
            id="scheme-variable",
        ),
    ],
)
def test_redirect_values(keys: dict[str, str], code: int, url: str) -> None:
    config = parsed(**keys)
    assert config is not None and config.redirect is not None
    assert config.redirect.code == code
    assert config.redirect.location.text == url


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("permanent-redirect", "/relative", "absolute URL", id="relative-url"),
        pytest.param("permanent-redirect", "ftp://x.test", "absolute URL", id="ftp"),
        pytest.param(
            "permanent-redirect",
            "https://x.test/$cookie_id",
            "$cookie_id",
            id="unsupported-variable",
        ),
        pytest.param("permanent-redirect", "https://x.test/a b", "white space", id="space"),
        pytest.param(
            "permanent-redirect", "https://x.test/$", "starts no variable", id="lone-dollar"
        ),
        pytest.param("permanent-redirect-code", "200", "not a redirect status", id="code-200"),
        pytest.param("permanent-redirect-code", "309", "not a redirect status", id="code-309"),
        pytest.param("temporal-redirect-code", "308", "300 to 307", id="temporal-308"),
        pytest.param("app-root", "app", "must start with", id="app-root-relative"),
        pytest.param("app-root", "/$1", "plain path", id="app-root-variable"),
        pytest.param("from-to-www-redirect", "yes", "not a boolean", id="www-not-bool"),
        pytest.param("ssl-redirect", "on", "not a boolean", id="ssl-redirect-not-bool"),
        pytest.param("force-ssl-redirect", "1x", "not a boolean", id="force-not-bool"),
        pytest.param("preserve-trailing-slash", "?", "not a boolean", id="slash-not-bool"),
    ],
)
def test_invalid_values_refuse_the_version(key: str, value: str, reason: str) -> None:
    result = parse_all({N + key: value})
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key and reason in error.reason


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    result = parse_all({prefix + "app-root": "/app"})
    assert result.config is not None and result.config.redirect == Redirects(app_root="/app")


def line(**kw: object) -> RequestLine:
    base: dict[str, object] = {
        "scheme": "http",
        "host": "a.test",
        "http_host": "A.test:8080",
        "server_port": 8080,
        "uri": "/x/y",
        "raw_path": "/x/%79",
        "args": "q=1",
    }
    return RequestLine(**(base | kw))  # type: ignore[arg-type]


def test_variables_expand_as_nginx() -> None:
    template = url_template(
        "$scheme://b.test$request_uri#$host|$http_host|$uri|$is_args$args|$server_port"
    )
    assert (
        template.expand(line().variable)
        == "http://b.test/x/%79?q=1#a.test|A.test:8080|/x/y|?q=1|8080"
    )
    assert (
        template.expand(line(args="").variable)
        == "http://b.test/x/%79#a.test|A.test:8080|/x/y||8080"
    )


@pytest.mark.parametrize(
    ("redirects", "request_", "expected"),
    [
        pytest.param(
            Redirects(app_root="/app"),
            line(uri="/", raw_path="/"),
            (302, "http://A.test:8080/app?q=1"),
            id="app-root",
        ),
        pytest.param(
            Redirects(app_root="/app"), line(uri="/other"), None, id="app-root-only-for-slash"
        ),
        pytest.param(
            Redirects(app_root="/app", relative=True),
            line(uri="/", args=""),
            (302, "/app"),
            id="app-root-relative",
        ),
        pytest.param(
            Redirects(app_root="/app", use_port=True),
            line(uri="/", args=""),
            (302, "http://a.test:8080/app"),
            id="app-root-port",
        ),
        pytest.param(
            Redirects(app_root="/app", use_port=True),
            line(uri="/", args="", server_port=80),
            (302, "http://a.test/app"),
            id="app-root-default-port",
        ),
        pytest.param(
            Redirects(redirect=Redirect(None, url_template("https://w.test$request_uri"))),
            line(),
            (308, "https://w.test/x/%79?q=1"),
            id="configmap-code",
        ),
    ],
)
def test_redirect_for(
    redirects: Redirects, request_: RequestLine, expected: tuple[int, str] | None
) -> None:
    assert redirect_for(redirects, request_, 308) == expected


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param({"ssl_redirect": "false"}, Redirects(ssl_redirect=False), id="ssl-redirect"),
        pytest.param(
            {"force_ssl_redirect": "true", "preserve_trailing_slash": "true"},
            Redirects(force_ssl_redirect=True, preserve_trailing_slash=True),
            id="force and trailing slash",
        ),
    ],
)
def test_https_redirect_keys_leave_unset_ones_to_the_configmap(
    keys: dict[str, str], expected: Redirects
) -> None:
    assert parsed(**keys) == expected
