"""Method, header and query route conditions through a running gateway (Higress matching)."""

from __future__ import annotations

from tests.objects import ingress, path, rule
from tests.proxy.harness import cluster, exchange, get

H = "higress.io/"
M = "mse.ingress.kubernetes.io/"


async def test_conditions_pick_the_upstream(upstreams, gateway) -> None:
    ups = {name: await upstreams() for name in ("main", "reads", "v2", "beta", "root")}
    document = cluster(
        [
            ingress("main", rule("api.test", path("/api", service="main"))),
            ingress(
                "reads",
                rule("api.test", path("/api", service="reads")),
                annotations={H + "match-method": "GET HEAD"},
            ),
            ingress(
                "v2",
                rule("api.test", path("/api", service="v2")),
                annotations={M + "regex-match-header-x-version": "2(\\.[0-9]+)?"},
            ),
            ingress(
                "beta",
                rule("api.test", path("/api/items", "Exact", service="beta")),
                annotations={M + "exact-match-query-beta": "on", M + "match-method": "POST"},
            ),
            ingress("root", rule("api.test", path("/", service="root"))),
        ],
        {name: [up.port] for name, up in ups.items()},
    )
    gw = await gateway(document)
    cases = [
        (get("api.test", "/api/items"), "reads"),
        (get("api.test", "/api/items", method="POST", body=b"x"), "main"),
        (
            get("api.test", "/api/items", method="PUT", body=b"x", headers=[("X-Version", "2.1")]),
            "v2",
        ),
        (
            get("api.test", "/api/items", method="PUT", body=b"x", headers=[("X-Version", "3")]),
            "main",
        ),
        (get("api.test", "/api/items?beta=on", method="POST", body=b"x"), "beta"),
        (get("api.test", "/api/items?beta=o%6E", method="POST", body=b"x"), "beta"),
        (get("api.test", "/api/items?beta=off", method="POST", body=b"x"), "main"),
        (get("api.test", "/other", method="DELETE"), "root"),
    ]
    responses = await exchange(gw.port, b"".join(r for r, _ in cases), responses=len(cases))
    assert [r.status for r in responses] == [200] * len(cases)
    targets = [(e["ingress"], e["method"]) for e in gw.access_log()]
    assert [ingress for ingress, _ in targets] == [name for _, name in cases]
    assert len(ups["beta"].requests) == 2 and ups["beta"].requests[0].target == "/api/items?beta=on"


async def test_no_route_meets_the_conditions_404(upstreams, gateway) -> None:
    up = await upstreams()
    document = cluster(
        [
            ingress(
                "gets",
                rule("only.test", path("/", service="app")),
                annotations={H + "match-method": "GET"},
            )
        ],
        {"app": [up.port]},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("only.test", "/", method="DELETE"))
    assert resp.status == 404
    [resp] = await exchange(gw.port, get("only.test", "/"))
    assert resp.status == 200
