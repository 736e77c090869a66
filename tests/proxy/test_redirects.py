"""Redirects answered by a running gateway (reference §1B): status, Location, no upstream."""

from __future__ import annotations

from tests.objects import ingress, path, rule
from tests.proxy.harness import cluster, exchange, get

N = "nginx.ingress.kubernetes.io/"


async def test_permanent_and_temporal_redirects(upstreams, gateway) -> None:
    up = await upstreams()
    document = cluster(
        [
            ingress(
                "moved",
                rule("old.test", path("/", service="app")),
                annotations={N + "permanent-redirect": "https://new.test$request_uri"},
            ),
            ingress(
                "away",
                rule("tmp.test", path("/", service="app")),
                annotations={
                    N + "temporal-redirect": "https://else.test/",
                    N + "permanent-redirect": "https://never.test/",
                },
            ),
            ingress(
                "coded",
                rule("coded.test", path("/", service="app")),
                annotations={
                    N + "permanent-redirect": "https://new.test/",
                    N + "permanent-redirect-code": "308",
                },
            ),
        ],
        {"app": [up.port]},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("old.test", "/a/b?c=d"))
    assert (resp.status, resp.header("Location")) == (301, "https://new.test/a/b?c=d")
    assert not resp.closed  # a redirect keeps the connection
    [resp] = await exchange(gw.port, get("tmp.test", "/x"))
    assert (resp.status, resp.header("Location")) == (302, "https://else.test/")
    [resp] = await exchange(gw.port, get("coded.test", "/x", method="HEAD"), head_request=True)
    assert (resp.status, resp.header("Location")) == (308, "https://new.test/")
    assert up.requests == []  # never proxied
    assert [e["status"] for e in gw.access_log()] == [301, 302, 308]


async def test_app_root_only_for_slash(upstreams, gateway) -> None:
    up = await upstreams()
    document = cluster(
        [
            ingress(
                "app",
                rule("app.test", path("/", service="app")),
                annotations={N + "app-root": "/app1"},
            )
        ],
        {"app": [up.port]},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("app.test:8080", "/?lang=en"))
    assert (resp.status, resp.header("Location")) == (302, "http://app.test:8080/app1?lang=en")
    [resp] = await exchange(gw.port, get("app.test", "/app1/page"))
    assert resp.status == 200 and up.requests[-1].target == "/app1/page"


async def test_from_to_www_redirect_both_ways(upstreams, gateway) -> None:
    up = await upstreams()
    www = {N + "from-to-www-redirect": "true"}
    document = cluster(
        [
            ingress("bare", rule("shop.test", path("/", service="app")), annotations=www),
            ingress("with-www", rule("www.blog.test", path("/", service="app")), annotations=www),
            # a name that some rule serves itself is never redirected
            ingress("served", rule("docs.test", path("/", service="app")), annotations=www),
            ingress("served-www", rule("www.docs.test", path("/", service="app"))),
        ],
        {"app": [up.port]},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("www.shop.test", "/p?q=1"))
    assert (resp.status, resp.header("Location")) == (308, "http://shop.test/p?q=1")
    [resp] = await exchange(gw.port, get("blog.test", "/"))
    assert (resp.status, resp.header("Location")) == (308, "http://www.blog.test/")
    [resp] = await exchange(gw.port, get("www.docs.test", "/"))
    assert resp.status == 200
    [resp] = await exchange(gw.port, get("shop.test", "/"))
    assert resp.status == 200


async def test_http_redirect_code_from_the_configmap(upstreams, gateway) -> None:
    up = await upstreams()
    document = cluster(
        [
            ingress(
                "bare",
                rule("shop.test", path("/", service="app")),
                annotations={N + "from-to-www-redirect": "true"},
            )
        ],
        {"app": [up.port]},
        {"gateway-config": {"http-redirect-code": "301"}},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("www.shop.test", "/"))
    assert resp.status == 301
