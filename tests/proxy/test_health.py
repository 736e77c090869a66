"""Passive health: ejection and return of failing endpoints, never more than half (issue 6
group 5)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.proxy.health import PassiveHealth
from routing.globals import GlobalConfig
from routing.model import Endpoint
from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response

HOST = "health.test"


async def reset(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


def document(ports: list[int], **settings: str) -> dict[str, Any]:
    return cluster(
        [ingress("app", rule(HOST, path("/", service="app")))],
        {"app": ports},
        {"gateway-config": settings},
    )


async def send(gw, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    statuses = []
    for i in range(count):
        [resp] = await exchange(gw.port, get(HOST, f"/{i}"))
        statuses.append(resp.status)
    return statuses


async def test_a_failing_pod_is_ejected_then_tried_again(upstreams, gateway) -> None:
    bad = await upstreams(reset)
    good = [await upstreams(), await upstreams()]
    ports = [bad.port, *(u.port for u in good)]
    gw = await gateway(document(ports, **{"upstream-max-fails": "2", "upstream-fail-timeout": "1"}))
    assert await send(gw, 12) == [200] * 12  # GET: each reset is retried on a good pod
    assert len(bad.requests) == 2  # then ejected
    assert await send(gw, 6) == [200] * 6
    assert len(bad.requests) == 2
    await asyncio.sleep(1.2)  # back in rotation after upstream-fail-timeout
    assert await send(gw, 6) == [200] * 6
    assert len(bad.requests) > 2


async def test_never_more_than_half_of_a_backend_is_ejected(upstreams, gateway) -> None:
    bad = [await upstreams(reset), await upstreams(reset)]
    good = await upstreams()
    ports = [*(u.port for u in bad), good.port]
    gw = await gateway(document(ports, **{"upstream-max-fails": "1"}))
    await send(gw, 12)
    counts = sorted(len(u.requests) for u in bad)
    assert counts[0] == 1 and counts[1] > 3  # one ejected at its first failure, not the other


async def test_a_lone_endpoint_is_never_ejected(upstreams, gateway) -> None:
    bad = await upstreams(reset)
    gw = await gateway(document([bad.port], **{"upstream-max-fails": "1"}))
    assert await send(gw, 5) == [502] * 5
    assert len(bad.requests) == 5


async def test_off_means_no_ejection(upstreams, gateway) -> None:
    bad, good = await upstreams(reset), await upstreams()
    gw = await gateway(document([bad.port, good.port], **{"upstream-max-fails": "0"}))
    await send(gw, 10)
    assert len(bad.requests) >= 5


def test_failures_count_within_the_window_and_success_clears_them() -> None:
    pods = [Endpoint(f"10.0.0.{i}", 80) for i in range(4)]
    config = GlobalConfig(upstream_max_fails=3, upstream_fail_timeout=10.0)
    health = PassiveHealth()
    health.failed(pods[0], pods, 0.0, config)
    health.failed(pods[0], pods, 1.0, config)
    health.succeeded(pods[0])
    health.failed(pods[0], pods, 2.0, config)
    health.failed(pods[0], pods, 3.0, config)
    assert pods[0] not in health.skip(pods, set(), 3.0)  # the success reset the count
    health.failed(pods[0], pods, 20.0, config)  # the window expired: counts as the first
    assert pods[0] not in health.skip(pods, set(), 20.0)
    health.failed(pods[0], pods, 21.0, config)
    health.failed(pods[0], pods, 22.0, config)
    assert pods[0] in health.skip(pods, set(), 22.0)
    assert pods[0] not in health.skip(pods, set(), 32.5)  # back after fail_timeout


async def test_a_retried_404_is_not_held_against_the_pod(upstreams, gateway) -> None:
    async def not_found(request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(response(404, b"not here"))

    lost = await upstreams(not_found)
    good = [await upstreams(), await upstreams()]
    doc = cluster(
        [
            ingress(
                "app",
                rule(HOST, path("/", service="app")),
                annotations={"nginx.ingress.kubernetes.io/proxy-next-upstream": "http_404"},
            )
        ],
        {"app": [lost.port, *(u.port for u in good)]},
        {"gateway-config": {"upstream-max-fails": "1"}},
    )
    gw = await gateway(doc)
    assert await send(gw, 9) == [200] * 9
    assert len(lost.requests) >= 3  # never ejected: it keeps its turn
