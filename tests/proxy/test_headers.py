"""Header control through a running gateway against a recording upstream."""

from __future__ import annotations

import asyncio

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response

N = "nginx.ingress.kubernetes.io/"
M = "mse.ingress.kubernetes.io/"
H = "higress.io/"


async def pod_headers(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(
        response(
            302,
            b"",
            [
                ("Location", "http://pod:8080/login?next=/"),
                ("Refresh", "3; url=http://pod:8080/later"),
                ("Set-Cookie", "sid=1; Domain=pod.local; Path=/app/session"),
                ("Cache-Control", "public"),
                ("Server", "pod"),
                ("X-Frame-Options", "ALLOW"),
            ],
        )
    )


async def test_request_and_response_header_control(upstreams, gateway) -> None:
    up = await upstreams(pod_headers)
    annotations = {
        N + "upstream-vhost": "api.internal",
        N + "connection-proxy-header": "keep-alive",
        N + "x-forwarded-prefix": "/shop",
        M + "request-header-control-add": "X-Tenant blue\nX-Trace on",
        M + "request-header-control-update": "X-Role guest",
        H + "request-header-control-remove": "X-Debug",
        M + "response-header-control-update": "Cache-Control no-store",
        M + "response-header-control-remove": "Server",
        M + "response-header-control-add": "X-Served-By gateway",
        N + "custom-headers": "headers",
        N + "proxy-cookie-domain": "pod.local shop.test",
        N + "proxy-cookie-path": "/app/ /",
        N + "proxy-redirect-from": "http://pod:8080/",
        N + "proxy-redirect-to": "https://shop.test/",
    }
    document = cluster(
        [ingress("shop", rule("shop.test", path("/", service="app")), annotations=annotations)],
        {"app": [up.port]},
        {"headers": {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}},
    )
    gw = await gateway(document)
    sent = [
        ("X-Trace", "client"),
        ("X-Role", "admin"),
        ("X-Debug", "1"),
        ("X-Forwarded-Prefix", "/evil"),
    ]
    [resp] = await exchange(gw.port, get("shop.test", "/cart", headers=sent))
    req = up.requests[0]
    assert req.header("Host") == "api.internal"
    assert req.header("Connection") == "keep-alive"
    assert req.header("X-Forwarded-Prefix") == "/shop"
    assert req.header("X-Tenant") == "blue"
    assert req.header("X-Trace") == "client, on"  # add keeps the client's value
    assert req.header("X-Role") == "guest"  # update replaces it
    assert req.header("X-Debug") is None
    assert req.header("X-Forwarded-Host") == "shop.test"  # the client's host, not the vhost

    assert resp.status == 302
    assert resp.header("Location") == "https://shop.test/login?next=/"
    assert resp.header("Refresh") == "3; url=https://shop.test/later"
    assert resp.header("Set-Cookie") == "sid=1; Domain=shop.test; Path=/session"
    assert resp.header("Cache-Control") == "no-store"
    assert resp.header("Server") is None
    assert resp.header("X-Served-By") == "gateway"
    assert resp.header("X-Frame-Options") == "DENY"
    assert resp.header("X-Content-Type-Options") == "nosniff"


async def test_missing_custom_headers_configmap_is_a_warning(upstreams, gateway) -> None:
    up = await upstreams()
    document = cluster(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="app")),
                annotations={N + "custom-headers": "nowhere"},
            )
        ],
        {"app": [up.port]},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("shop.test"))
    assert resp.status == 200
    assert gw.gateway is not None
    problems = gw.gateway.holder.current.problems  # type: ignore[union-attr]
    [problem] = [p for p in problems if p.code == "MissingConfigMap"]
    assert problem.name == "shop" and "custom-headers" in problem.field


async def test_custom_headers_configmap_change_applies_live(upstreams, gateway) -> None:
    up = await upstreams()

    def document(frame_options: str) -> dict:
        return cluster(
            [
                ingress(
                    "shop",
                    rule("shop.test", path("/", service="app")),
                    annotations={N + "custom-headers": "headers"},
                )
            ],
            {"app": [up.port]},
            {"headers": {"X-Frame-Options": frame_options}},
        )

    gw = await gateway(document("DENY"))
    [resp] = await exchange(gw.port, get("shop.test"))
    assert resp.header("X-Frame-Options") == "DENY"
    await gw.update(document("SAMEORIGIN"))
    [resp] = await exchange(gw.port, get("shop.test"))
    assert resp.header("X-Frame-Options") == "SAMEORIGIN"
