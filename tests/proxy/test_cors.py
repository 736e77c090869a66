"""CORS through a running gateway (issue 7 §8): every row of the reference's §1C."""

from __future__ import annotations

import asyncio

import pytest

from tests.proxy.harness import Recorded, cluster, exchange, get, ingress, response

pytestmark = pytest.mark.asyncio

N = "nginx.ingress.kubernetes.io/"
ON = {N + "enable-cors": "true"}
LISTED = {**ON, N + "cors-allow-origin": "https://app.test, https://*.partner.test:8443"}
DEFAULT_HEADERS = {
    "access-control-allow-credentials": "true",
    "access-control-allow-methods": "GET, PUT, POST, DELETE, PATCH, OPTIONS",
    "access-control-allow-headers": "DNT, Keep-Alive, User-Agent, X-Requested-With, "
    "If-Modified-Since, Cache-Control, Content-Type, Range, Authorization",
    "access-control-max-age": "1728000",
}


async def pod_with_own_cors(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """A pod that sets its own CORS header, which the gateway replaces for allowed origins."""
    writer.write(response(200, b"pod", [("Access-Control-Allow-Origin", "https://pod.test")]))


def _cors(headers: list[tuple[str, str]]) -> dict[str, str]:
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names)), f"a header is sent twice: {headers}"
    return {
        name.lower(): value
        for name, value in headers
        if name.lower().startswith("access-control-") or name.lower() == "vary"
    }


@pytest.mark.parametrize(
    ("annotations", "method", "origin", "answered_by", "expected"),
    [
        pytest.param(ON, "GET", "https://any.test", "pod",
                     {"access-control-allow-origin": "*", **DEFAULT_HEADERS},
                     id="* sends the literal * to any origin"),
        pytest.param(ON, "GET", None, "pod",
                     {"access-control-allow-origin": "*", **DEFAULT_HEADERS},
                     id="* sends it without an Origin too"),
        pytest.param(ON, "OPTIONS", None, "gateway",
                     {"access-control-allow-origin": "*", **DEFAULT_HEADERS},
                     id="* answers every OPTIONS"),
        pytest.param(LISTED, "GET", "https://app.test", "pod",
                     {"access-control-allow-origin": "https://app.test", **DEFAULT_HEADERS,
                      "vary": "Origin"},
                     id="a listed origin is echoed"),
        pytest.param(LISTED, "GET", "https://other.test", "pod",
                     {"access-control-allow-origin": "https://pod.test", "vary": "Origin"},
                     id="another origin gets no CORS headers of ours"),
        pytest.param(LISTED, "GET", None, "pod", {"access-control-allow-origin": "https://pod.test",
                                                  "vary": "Origin"},
                     id="no Origin with a list: nothing but Vary"),
        pytest.param(LISTED, "OPTIONS", "https://app.test", "gateway",
                     {"access-control-allow-origin": "https://app.test", **DEFAULT_HEADERS,
                      "vary": "Origin"},
                     id="a listed origin's preflight is answered"),
        pytest.param(LISTED, "OPTIONS", "https://other.test", "pod",
                     {"access-control-allow-origin": "https://pod.test", "vary": "Origin"},
                     id="another origin's OPTIONS reaches the pod"),
        pytest.param(LISTED, "GET", "https://eu.partner.test:8443", "pod",
                     {"access-control-allow-origin": "https://eu.partner.test:8443",
                      **DEFAULT_HEADERS, "vary": "Origin"},
                     id="one wildcard label"),
        pytest.param(LISTED, "GET", "https://a.eu.partner.test:8443", "pod",
                     {"access-control-allow-origin": "https://pod.test", "vary": "Origin"},
                     id="not two labels"),
        pytest.param({**ON, N + "cors-expose-headers": "X-Total",
                      N + "cors-allow-credentials": "false", N + "cors-max-age": "5"},
                     "GET", "https://a.test", "pod",
                     {"access-control-allow-origin": "*",
                      "access-control-allow-methods": DEFAULT_HEADERS[
                          "access-control-allow-methods"],
                      "access-control-allow-headers": DEFAULT_HEADERS[
                          "access-control-allow-headers"],
                      "access-control-expose-headers": "X-Total",
                      "access-control-max-age": "5"},
                     id="expose, no credentials, max age"),
    ],
)  # fmt: skip
async def test_cors_rows(
    upstreams, gateway, annotations: dict[str, str], method: str, origin: str | None,
    answered_by: str, expected: dict[str, str],
) -> None:  # fmt: skip
    up = await upstreams(pod_with_own_cors)
    gw = await gateway(cluster([ingress(annotations, host="api.test")], {"svc": [up.port]}))
    headers = [("Origin", origin)] if origin else []
    [resp] = await exchange(gw.port, get("api.test", "/x", method=method, headers=headers))
    assert _cors(resp.headers) == expected
    if answered_by == "gateway":
        assert (resp.status, resp.body, up.requests) == (204, b"", [])
        assert resp.header("Content-Length") == "0"
        assert resp.header("Content-Type") == "text/plain charset=UTF-8"
        assert not resp.closed
    else:
        assert (resp.status, resp.body, len(up.requests)) == (200, b"pod", 1)


async def test_a_preflight_and_the_request_share_a_connection(upstreams, gateway) -> None:
    up = await upstreams(pod_with_own_cors)
    gw = await gateway(cluster([ingress(LISTED, host="api.test")], {"svc": [up.port]}))
    origin = [("Origin", "https://app.test")]
    raw = get("api.test", method="OPTIONS", headers=origin) + get("api.test", headers=origin)
    preflight, actual = await exchange(gw.port, raw, responses=2)
    assert (preflight.status, actual.status, len(up.requests)) == (204, 200, 1)
    assert actual.header("Access-Control-Allow-Origin") == "https://app.test"


async def test_the_gateway_s_own_answers_carry_the_headers(upstreams, gateway) -> None:
    """A browser must see why it was refused, so the 403 of an allow list gets them too."""
    up = await upstreams()
    closed = {**LISTED, N + "whitelist-source-range": "10.0.0.0/8"}
    gw = await gateway(cluster([ingress(closed, host="api.test")], {"svc": [up.port]}))
    [resp] = await exchange(gw.port, get("api.test", headers=[("Origin", "https://app.test")]))
    assert resp.status == 403
    assert resp.header("Access-Control-Allow-Origin") == "https://app.test"
    assert resp.header("Vary") == "Origin"


async def test_a_preflight_is_answered_before_the_https_redirect(upstreams, gateway) -> None:
    """nginx answers the preflight in its rewrite directives, before the Lua HTTPS redirect:
    a browser's preflight must not be redirected."""
    up = await upstreams()
    forced = {**ON, N + "force-ssl-redirect": "true"}
    gw = await gateway(cluster([ingress(forced, host="api.test")], {"svc": [up.port]}))
    [preflight] = await exchange(gw.port, get("api.test", method="OPTIONS"))
    [redirect] = await exchange(gw.port, get("api.test", "/x"))
    assert preflight.status == 204
    assert redirect.status == 308 and redirect.header("Location") == "https://api.test/x"
    assert redirect.header("Access-Control-Allow-Origin") == "*"


async def test_no_cors_headers_for_requests_that_match_no_route(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(cluster([ingress(ON, path="/api", host="api.test")], {"svc": [up.port]}))
    [resp] = await exchange(gw.port, get("api.test", "/other", method="OPTIONS"))
    assert resp.status == 404 and _cors(resp.headers) == {}
