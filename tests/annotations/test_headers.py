"""Header-control annotations: parse table and the compiled policy (reference §1B, §1L, §2)."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.headers import HeaderControl
from routing.headers import (
    HeaderPolicy,
    header_policy,
    rewrite_cookie,
    rewrite_location,
    rewrite_refresh,
)

N = "nginx.ingress.kubernetes.io/"
M = "mse.ingress.kubernetes.io/"


def control(annotations: dict[str, str]) -> HeaderControl:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None and result.config.headers is not None
    return result.config.headers


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param(
            {N + "upstream-vhost": "api.internal:8080"},
            HeaderControl(upstream_vhost="api.internal:8080"),
            id="vhost",
        ),
        pytest.param(
            {N + "connection-proxy-header": "keep-alive"},
            HeaderControl(connection="keep-alive"),
            id="connection",
        ),
        pytest.param(
            {N + "x-forwarded-prefix": "/api"},
            HeaderControl(forwarded_prefix="/api"),
            id="forwarded-prefix",
        ),
        pytest.param(
            {M + "request-header-control-add": 'X-A 1\n"X-B" "two words"\n\n'},
            HeaderControl(request_add=(("X-A", "1"), ("X-B", "two words"))),
            id="add-lines-quotes-trimmed",
        ),
        pytest.param(
            {M + "request-header-control-remove": "X-A, X-B"},
            HeaderControl(request_remove=("X-A", "X-B")),
            id="remove-list",
        ),
        pytest.param(
            {M + "response-header-control-update": "Cache-Control no-store"},
            HeaderControl(response_update=(("Cache-Control", "no-store"),)),
            id="response-update",
        ),
        pytest.param(
            {N + "custom-headers": "tools/extra"},
            HeaderControl(custom_headers=("tools", "extra")),
            id="custom-headers-ns",
        ),
        pytest.param(
            {N + "custom-headers": "extra"},
            HeaderControl(custom_headers=(None, "extra")),
            id="custom-headers-own-ns",
        ),
        pytest.param(
            {N + "proxy-cookie-domain": "pod.local example.com"},
            HeaderControl(cookie_domain=("pod.local", "example.com")),
            id="cookie-domain",
        ),
        pytest.param({N + "proxy-cookie-path": "off"}, HeaderControl(), id="cookie-path-off"),
        pytest.param(
            {N + "proxy-redirect-from": "http://pod/", N + "proxy-redirect-to": "https://site/"},
            HeaderControl(redirect=("http://pod/", "https://site/")),
            id="proxy-redirect",
        ),
        pytest.param({N + "proxy-redirect-from": "off"}, HeaderControl(), id="proxy-redirect-off"),
    ],
)
def test_valid(annotations: dict[str, str], expected: HeaderControl) -> None:
    assert control(annotations) == expected


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("upstream-vhost", "$host", "not a host name", id="vhost-variable"),
        pytest.param("upstream-vhost", "a b", "not a host name", id="vhost-space"),
        pytest.param("request-header-control-add", "X-A", "not 'Name Value'", id="add-no-value"),
        pytest.param(
            "request-header-control-update", "Host other", "set by the gateway", id="update-host"
        ),
        pytest.param(
            "request-header-control-add",
            "X-Forwarded-For 1.2.3.4",
            "set by the gateway",
            id="add-xff",
        ),
        pytest.param(
            "response-header-control-remove",
            "Content-Length",
            "set by the gateway",
            id="remove-framing",
        ),
        pytest.param(
            "request-header-control-add", "Bad:Name v", "not a valid header name", id="bad-name"
        ),
        pytest.param("x-forwarded-prefix", "/a\r\nX-Evil: 1", "control characters", id="injection"),
        pytest.param(
            "proxy-cookie-domain", "one", "neither 'off' nor 'FROM TO'", id="cookie-one-word"
        ),
        pytest.param(
            "custom-headers", "a/b/c", "not 'name' or 'namespace/name'", id="configmap-ref"
        ),
        pytest.param(
            "proxy-redirect-from", "http://pod/", "needs proxy-redirect-to", id="from-without-to"
        ),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    prefix = M if "control" in key else N
    result = parse_all({prefix + key: value})
    assert result.config is None
    [error] = result.errors
    assert error.key == prefix + key and reason in error.reason


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    assert control({prefix + "request-header-control-remove": "X-A"}).request_remove == ("X-A",)


def test_policy_serialises_once() -> None:
    policy = header_policy(
        HeaderControl(
            upstream_vhost="api.internal",
            connection="keep-alive",
            forwarded_prefix="/api",
            request_add=(("X-Add", "1"),),
            request_update=(("X-Set", "2"),),
            request_remove=("X-Gone",),
            response_update=(("Cache-Control", "no-store"), ("X-Frame-Options", "DENY")),
            response_add=(("X-Also", "3"),),
        ),
        custom_headers={"x-frame-options": "SAMEORIGIN", "X-Custom": "c"},
    )
    assert policy.host == b"api.internal"
    assert policy.request_drop == {b"x-set", b"x-gone", b"x-forwarded-prefix"}
    assert policy.request_lines == (
        b"Connection: keep-alive\r\nX-Forwarded-Prefix: /api\r\nX-Set: 2\r\nX-Add: 1\r\n"
    )
    assert policy.response_drop == {b"cache-control", b"x-frame-options", b"x-custom"}
    assert policy.response_lines == (
        b"Cache-Control: no-store\r\nx-frame-options: SAMEORIGIN\r\nX-Custom: c\r\nX-Also: 3\r\n"
    )


@pytest.mark.parametrize(
    ("policy", "value", "expected"),
    [
        pytest.param(
            HeaderPolicy(cookie_domain=("pod.local", "example.com")),
            "a=1; Domain=.POD.local; Path=/",
            "a=1; Domain=example.com; Path=/",
            id="domain-dot-and-case",
        ),
        pytest.param(
            HeaderPolicy(cookie_domain=("pod.local", "example.com")),
            "a=1; Domain=other.local",
            "a=1; Domain=other.local",
            id="domain-other",
        ),
        pytest.param(
            HeaderPolicy(cookie_path=("/app/", "/")),
            "a=1; path=/app/x; HttpOnly",
            "a=1; path=/x; HttpOnly",
            id="path-prefix",
        ),
        pytest.param(
            HeaderPolicy(cookie_path=("/app/", "/")),
            "a=1; Path=/other",
            "a=1; Path=/other",
            id="path-other",
        ),
    ],
)
def test_rewrite_cookie(policy: HeaderPolicy, value: str, expected: str) -> None:
    assert rewrite_cookie(policy, value) == expected


def test_rewrite_location_and_refresh() -> None:
    policy = HeaderPolicy(redirect=("http://pod:8080/", "https://shop.test/"))
    assert rewrite_location(policy, "http://pod:8080/a?b") == "https://shop.test/a?b"
    assert rewrite_location(policy, "http://else/a") == "http://else/a"
    assert rewrite_refresh(policy, "5; url=http://pod:8080/x") == "5; url=https://shop.test/x"
