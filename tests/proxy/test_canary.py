"""Canary traffic through a running gateway to recording upstreams (reference §3)."""

from __future__ import annotations

import asyncio

import pytest

from tests.objects import ingress, path, rule
from tests.proxy.harness import cluster, exchange, get
from tests.proxy.process import http_get

N = "nginx.ingress.kubernetes.io/"
M = "mse.ingress.kubernetes.io/"
OLD, NEWER, NEWEST, LATEST = (f"2024-01-0{d}T00:00:00Z" for d in range(1, 5))


def canary(
    name: str, annotations: dict[str, str], service: str, created: str, p: str = "/"
) -> dict:
    return ingress(
        name,
        rule("shop.test", path(p, service=service)),
        annotations={N + "canary": "true", **annotations},
        created=created,
    )


async def served_by(port: int, ups: dict, request: bytes) -> str:
    before = {name: len(up.requests) for name, up in ups.items()}
    [resp] = await exchange(port, request)
    assert resp.status == 200, resp.raw
    [name] = [n for n, up in ups.items() if len(up.requests) > before[n]]
    return name


async def test_three_versions_live_at_once(upstreams, gateway) -> None:
    """Two header canaries and one weight canary on one rule: what nginx cannot do."""
    ups = {name: await upstreams() for name in ("main", "v1", "v2", "v3")}
    document = cluster(
        [
            ingress("shop", rule("shop.test", path("/", service="main")), created=OLD),
            canary(
                "shop-v1",
                {N + "canary-by-header": "X-Version", N + "canary-by-header-value": "v1"},
                "v1",
                NEWER,
            ),
            canary(
                "shop-v2",
                {N + "canary-by-header": "X-Version", N + "canary-by-header-value": "v2"},
                "v2",
                NEWEST,
            ),
            canary("shop-v3", {M + "canary-weight": "30"}, "v3", LATEST),
        ],
        {name: [up.port] for name, up in ups.items()},
    )
    gw = await gateway(document)
    assert await served_by(gw.port, ups, get("shop.test", headers=[("X-Version", "v1")])) == "v1"
    assert await served_by(gw.port, ups, get("shop.test", headers=[("x-version", "v2")])) == "v2"
    before = {name: len(up.requests) for name, up in ups.items()}
    responses = await exchange(gw.port, get("shop.test", "/cart") * 400, responses=400)
    assert [r.status for r in responses] == [200] * 400
    counts = {name: len(up.requests) - before[name] for name, up in ups.items()}
    # 400 draws at p = 0.3: the mean is 120 and sigma 9.2; 5 sigma either way.
    assert 74 <= counts["v3"] <= 166, counts
    assert counts["v1"] == counts["v2"] == 0
    assert counts["main"] == 400 - counts["v3"]
    log = gw.access_log()
    assert {(e["ingress"], e["service"]) for e in log} == {
        ("shop-v1", "v1"),
        ("shop-v2", "v2"),
        ("shop-v3", "v3"),
        ("shop", "main"),
    }
    status, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{gw.admin_port}/metrics")
    assert status == 200
    counted = [
        line for line in body.decode().splitlines() if line.startswith("gateway_requests_total{")
    ]
    for ingress_name, service in (("shop-v1", "v1"), ("shop-v3", "v3"), ("shop", "main")):
        assert any(
            f'ingress="{ingress_name}"' in line and f'service="{service}"' in line
            for line in counted
        ), ingress_name


async def test_cookie_and_query_canaries(upstreams, gateway) -> None:
    ups = {name: await upstreams() for name in ("main", "beta", "q")}
    document = cluster(
        [
            ingress("shop", rule("shop.test", path("/", service="main")), created=OLD),
            canary("by-cookie", {N + "canary-by-cookie": "beta"}, "beta", NEWER),
            canary(
                "by-query",
                {M + "canary-by-query": "ver", M + "canary-by-query-value": "2"},
                "q",
                NEWEST,
            ),
        ],
        {name: [up.port] for name, up in ups.items()},
    )
    gw = await gateway(document)
    cookie = get("shop.test", headers=[("Cookie", "a=1; beta=always; c=3")])
    assert await served_by(gw.port, ups, cookie) == "beta"
    never = get("shop.test", headers=[("Cookie", "beta=never")])
    assert await served_by(gw.port, ups, never) == "main"
    assert await served_by(gw.port, ups, get("shop.test", "/?x=1&ver=2")) == "q"
    assert ups["q"].requests[-1].target == "/?x=1&ver=2"  # the query string is kept
    # query sits at the header's level, before the cookie
    both = get("shop.test", "/?ver=2", headers=[("Cookie", "beta=always")])
    assert await served_by(gw.port, ups, both) == "q"
    assert await served_by(gw.port, ups, get("shop.test", "/?ver=3")) == "main"


async def test_shaping_stays_on_its_route(upstreams, gateway) -> None:
    """nginx canaries every path sharing the primary Service (#4667); we do not."""
    ups = {name: await upstreams() for name in ("main", "beta")}
    document = cluster(
        [
            ingress(
                "shop",
                rule("shop.test", path("/", service="main")),
                rule("other.test", path("/", service="main")),
                created=OLD,
            ),
            canary("beta", {N + "canary-by-header": "X-Beta"}, "beta", NEWER),
        ],
        {name: [up.port] for name, up in ups.items()},
    )
    gw = await gateway(document)
    always = [("X-Beta", "always")]
    assert await served_by(gw.port, ups, get("shop.test", headers=always)) == "beta"
    assert await served_by(gw.port, ups, get("other.test", headers=always)) == "main"


@pytest.mark.parametrize("weight", ["100", "0"])
async def test_canary_without_endpoints_falls_back_to_the_primary(
    upstreams, gateway, weight: str
) -> None:
    main = await upstreams()
    document = cluster(
        [
            ingress("shop", rule("shop.test", path("/", service="main")), created=OLD),
            canary("beta", {N + "canary-weight": weight}, "beta", NEWER),
        ],
        {"main": [main.port], "beta": []},
    )
    gw = await gateway(document)
    for _ in range(5):
        [resp] = await exchange(gw.port, get("shop.test"))
        assert resp.status == 200
    assert len(main.requests) == 5
    assert {e["service"] for e in gw.access_log()} == {"main"}


async def test_canary_weight_change_applies_live(upstreams, gateway) -> None:
    ups = {name: await upstreams() for name in ("main", "beta")}
    services = {name: [up.port] for name, up in ups.items()}
    primary = ingress("shop", rule("shop.test", path("/", service="main")), created=OLD)
    gw = await gateway(
        cluster([primary, canary("beta", {N + "canary-weight": "0"}, "beta", NEWER)], services)
    )
    assert await served_by(gw.port, ups, get("shop.test")) == "main"
    await gw.update(
        cluster([primary, canary("beta", {N + "canary-weight": "100"}, "beta", NEWER)], services)
    )
    assert await served_by(gw.port, ups, get("shop.test")) == "beta"
