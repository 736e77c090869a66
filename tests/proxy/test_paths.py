"""Higress path options and nginx's host-wide regex mode through a running gateway."""

from __future__ import annotations

from tests.objects import ingress, path, rule
from tests.proxy.harness import cluster, exchange, get

H = "higress.io/"
N = "nginx.ingress.kubernetes.io/"


async def test_rewrite_path_full_path_regex_and_ignore_path_case(upstreams, gateway) -> None:
    up = await upstreams()
    document = cluster(
        [
            ingress(
                "strip",
                rule("p.test", path("/v1", service="app")),
                annotations={H + "rewrite-path": "/"},
            ),
            ingress(
                "full",
                rule("p.test", path("/id/[0-9]+", "ImplementationSpecific", service="app")),
                annotations={H + "full-path-regex": "true", H + "rewrite-path": "/item"},
            ),
            ingress(
                "loose",
                rule("p.test", path("/Docs", "Exact", service="app")),
                annotations={H + "ignore-path-case": "true"},
            ),
        ],
        {"app": [up.port]},
    )
    gw = await gateway(document)
    requests = [
        get("p.test", "/v1/users?page=2"),
        get("p.test", "/v1"),
        get("p.test", "/id/42"),
        get("p.test", "/id/42/more"),
        get("p.test", "/DOCS"),
    ]
    responses = await exchange(gw.port, b"".join(requests), responses=len(requests))
    assert [r.status for r in responses] == [200, 200, 200, 404, 200]
    assert [r.target for r in up.requests] == ["/users?page=2", "/", "/item", "/DOCS"]


async def test_host_wide_regex_restores_nginx_behaviour_live(upstreams, gateway) -> None:
    up = await upstreams()
    ingresses = [
        ingress(
            "regex",
            rule("h.test", path("/r.+", "ImplementationSpecific", service="app")),
            annotations={N + "use-regex": "true"},
        ),
        ingress("plain", rule("h.test", path("/foo", "Exact", service="app"))),
    ]
    gw = await gateway(cluster(ingresses, {"app": [up.port]}))
    [resp] = await exchange(gw.port, get("h.test", "/FOO/bar"))
    assert resp.status == 404  # by default Exact stays exact
    await gw.update(
        cluster(ingresses, {"app": [up.port]}, {"gateway-config": {"host-wide-regex": "true"}})
    )
    [resp] = await exchange(gw.port, get("h.test", "/FOO/bar"))
    assert resp.status == 200 and up.requests[-1].target == "/FOO/bar"
