"""MSE's connection policy through a running gateway (issue 6 group 6): connections per pod
and per Service stay within the limits, requests wait for a free one (then 503), and a
connection carries at most so many requests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response

M = "mse.ingress.kubernetes.io/connection-policy-"
HOST = "pool.test"


def document(ports: list[int], policy: dict[str, str], **settings: str) -> dict[str, Any]:
    annotations = {M + key: value for key, value in policy.items()}
    return cluster(
        [ingress("app", rule(HOST, path("/", service="app")), annotations=annotations)],
        {"app": ports},
        {"gateway-config": settings},
    )


def slow(seconds: float):  # type: ignore[no-untyped-def]
    async def handler(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)
        writer.write(response(200))

    return handler


async def concurrently(gw, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    results = await asyncio.gather(*(exchange(gw.port, get(HOST, f"/{i}")) for i in range(count)))
    return [r[0].status for r in results]


async def test_per_endpoint_limit_makes_requests_wait_for_the_connection(
    upstreams, gateway
) -> None:
    up = await upstreams(slow(0.2))
    gw = await gateway(document([up.port], {"tcp-max-connection-per-endpoint": "1"}))
    started = time.monotonic()
    assert await concurrently(gw, 4) == [200] * 4
    assert up.connections == 1  # one connection, reused in turn
    assert time.monotonic() - started >= 0.75


async def test_service_limit_spans_its_endpoints(upstreams, gateway) -> None:
    ups = [await upstreams(slow(0.1)), await upstreams(slow(0.1))]
    gw = await gateway(document([u.port for u in ups], {"tcp-max-connection": "2"}))
    assert await concurrently(gw, 8) == [200] * 8
    assert sum(u.connections for u in ups) <= 3  # 2, and one replacing a closed idle one
    assert gw.gateway.proxy.pool.open_for.get("default/app:80", 0) <= 2


async def test_no_free_connection_in_time_is_503(upstreams, gateway) -> None:
    up = await upstreams(slow(1.5))
    gw = await gateway(
        document(
            [up.port],
            {"tcp-max-connection-per-endpoint": "1"},
            **{"proxy-connect-timeout": "300ms"},
        )
    )
    first = asyncio.create_task(exchange(gw.port, get(HOST, "/first")))
    while not up.requests:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    [waited] = await exchange(gw.port, get(HOST, "/second"))
    assert waited.status == 503 and 0.25 <= time.monotonic() - started < 1.2
    [done] = await first
    assert done.status == 200 and up.connections == 1
    log = gw.access_log()
    assert log[-2]["upstream_status"] == "503"


async def test_requests_per_connection(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(document([up.port], {"http-max-request-per-connection": "2"}))
    for i in range(5):
        [resp] = await exchange(gw.port, get(HOST, f"/{i}"))
        assert resp.status == 200
    assert up.connections == 3
    assert [r.connection for r in up.requests] == [1, 1, 2, 2, 3]
