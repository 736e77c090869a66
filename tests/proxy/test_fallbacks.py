"""`server-alias`, `default-backend` and `custom-http-errors` through a running gateway."""

from __future__ import annotations

import asyncio

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response

N = "nginx.ingress.kubernetes.io/"


async def app(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """404 for /missing*, 503 for /busy*, else 200 with the target."""
    if request.target.startswith("/missing"):
        writer.write(response(404, b"pod says not found", [("X-From", "pod")]))
    elif request.target.startswith("/busy"):
        writer.write(response(503, b"pod busy"))
    else:
        writer.write(response(200, request.target.encode()))


async def error_pages(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """A default backend in the ingress-nginx style: the status is X-Code."""
    code = int(request.header("X-Code") or 404)
    writer.write(response(code, f"custom page for {code}".encode(), [("X-From", "errors")]))


async def test_server_alias_serves_the_hosts_routes(upstreams, gateway) -> None:
    up = await upstreams()
    document = cluster(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="app")),
                annotations={N + "server-alias": "www.shop.test,*.shop.example"},
            )
        ],
        {"app": [up.port]},
    )
    gw = await gateway(document)
    requests = [get("www.shop.test", "/a"), get("eu.shop.example:8080", "/b"), get("x.test", "/")]
    responses = await exchange(gw.port, b"".join(requests), responses=3)
    assert [r.status for r in responses] == [200, 200, 404]
    assert [r.header("Host") for r in up.requests] == ["www.shop.test", "eu.shop.example:8080"]


async def test_default_backend_takes_requests_when_the_service_has_no_endpoints(
    upstreams, gateway
) -> None:
    errors = await upstreams()
    document = cluster(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="down")),
                annotations={N + "default-backend": "errors"},
            ),
            ingress("plain", rule("plain.test", path("/", service="down"))),
        ],
        {"down": [], "errors": [errors.port]},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("shop.test", "/page?x=1"))
    assert resp.status == 200 and errors.requests[-1].target == "/page?x=1"
    [resp] = await exchange(gw.port, get("plain.test", "/"))
    assert resp.status == 503  # no annotation, no fallback
    labels = [(e["ingress"], e["service"], e["status"]) for e in gw.access_log()]
    assert labels == [("shop", "errors", 200), ("plain", "down", 503)]


async def test_custom_http_errors_fetch_the_page_from_the_default_backend(
    upstreams, gateway
) -> None:
    pod, errors = await upstreams(app), await upstreams(error_pages)
    document = cluster(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="app")),
                annotations={N + "default-backend": "errors", N + "custom-http-errors": "404,503"},
            )
        ],
        {"app": [pod.port], "errors": [errors.port]},
    )
    gw = await gateway(document)
    requests = [
        get(
            "shop.test",
            "/missing/item?q=1",
            headers=[("Accept", "application/json"), ("X-Code", "forged"), ("X-Request-ID", "r-1")],
        ),
        get("shop.test", "/ok"),
    ]
    first, second = await exchange(gw.port, b"".join(requests), responses=2)
    [head] = await exchange(gw.port, get("shop.test", "/busy", method="HEAD"), head_request=True)
    assert (head.status, head.header("X-From"), head.body) == (503, "errors", b"")
    assert (first.status, first.body, first.header("X-From")) == (
        404,
        b"custom page for 404",
        "errors",
    )
    assert first.header("X-Request-ID") == "r-1" and not first.closed
    assert (second.status, second.body) == (200, b"/ok")
    page = errors.requests[0]
    sent = {name: page.header(name) for name in (
        "X-Code", "X-Format", "X-Original-URI", "X-Namespace", "X-Ingress-Name",
        "X-Service-Name", "X-Service-Port", "X-Request-ID",
    )}  # fmt: skip
    assert sent == {
        "X-Code": "404",
        "X-Format": "application/json",
        "X-Original-URI": "/missing/item?q=1",
        "X-Namespace": "default",
        "X-Ingress-Name": "shop",
        "X-Service-Name": "app",
        "X-Service-Port": "80",
        "X-Request-ID": "r-1",
    }
    assert (page.method, page.target, page.body) == ("GET", "/", b"")
    assert errors.requests[1].method == "HEAD" and errors.requests[1].header("X-Code") == "503"
    log = gw.access_log()
    assert [(e["status"], e["upstream_status"], e["service"]) for e in log[:2]] == [
        (404, "404, 404", "errors"),
        (200, "200", "app"),
    ]


async def test_custom_http_errors_drop_the_request_body(upstreams, gateway) -> None:
    pod, errors = await upstreams(app), await upstreams(error_pages)
    document = cluster(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="app")),
                annotations={N + "default-backend": "errors", N + "custom-http-errors": "404"},
            )
        ],
        {"app": [pod.port], "errors": [errors.port]},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("shop.test", "/missing", method="POST", body=b"secret"))
    assert resp.status == 404 and resp.body == b"custom page for 404"
    assert pod.requests[0].body == b"secret"
    page = errors.requests[0]
    assert (page.method, page.body, page.header("Content-Length")) == ("GET", b"", None)


async def test_custom_http_errors_without_default_backend_use_the_gateways_page(
    upstreams, gateway
) -> None:
    pod = await upstreams(app)
    document = cluster(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="app")),
                annotations={N + "custom-http-errors": "503"},
            )
        ],
        {"app": [pod.port]},
    )
    gw = await gateway(document)
    requests = [get("shop.test", "/busy"), get("shop.test", "/missing")]
    busy, missing = await exchange(gw.port, b"".join(requests), responses=2)
    assert busy.status == 503 and b"ingress-gateway" in busy.body and b"pod busy" not in busy.body
    assert (missing.status, missing.body) == (404, b"pod says not found")  # not listed
