"""`load-balance` and `upstream-hash-by` through a running gateway against three pods."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response

N = "nginx.ingress.kubernetes.io/"


async def spread(gw, ups, requests: list[bytes]) -> list[int]:  # type: ignore[no-untyped-def]
    """Which pod (index into `ups`) served each request, sent pipelined on one connection."""
    responses = await exchange(gw.port, b"".join(requests), responses=len(requests))
    assert [r.status for r in responses] == [200] * len(requests)
    by_port = {up.port: i for i, up in enumerate(ups)}
    return [
        by_port[int(e["upstream_addr"].rsplit(":", 1)[1])]
        for e in gw.access_log()[-len(requests) :]
    ]


def document(annotations: dict[str, str], ports: list[int]) -> dict:
    return cluster(
        [ingress("app", rule("lb.test", path("/", service="app")), annotations=annotations)],
        {"app": ports},
    )


async def test_round_robin_and_random_spread(upstreams, gateway) -> None:
    ups = [await upstreams() for _ in range(3)]
    ports = [u.port for u in ups]
    gw = await gateway(document({}, ports))
    counts = Counter(await spread(gw, ups, [get("lb.test", f"/{i}") for i in range(30)]))
    assert sorted(counts.values()) == [10, 10, 10]
    await gw.update(document({N + "load-balance": "random"}, ports))
    counts = Counter(await spread(gw, ups, [get("lb.test", f"/{i}") for i in range(600)]))
    assert len(counts) == 3 and all(130 < n < 270 for n in counts.values())  # > 5 sigma


async def test_hash_by_keeps_each_key_on_one_pod_across_endpoint_changes(
    upstreams, gateway
) -> None:
    ups = [await upstreams() for _ in range(3)]
    annotations = {N + "upstream-hash-by": "$arg_user"}
    gw = await gateway(document(annotations, [u.port for u in ups]))
    users = [f"u{i}" for i in range(60)]
    requests = [get("lb.test", f"/cart?user={u}") for u in users]
    first = await spread(gw, ups, requests)
    assert await spread(gw, ups, requests) == first  # stable
    assert len(set(first)) == 3
    # The third pod leaves: only its users move.
    await gw.update(document(annotations, [u.port for u in ups[:2]]))
    after = await spread(gw, ups, requests)
    moved = {u for u, a, b in zip(users, first, after, strict=True) if a != b}
    assert moved == {u for u, a in zip(users, first, strict=True) if a == 2}


async def slow_path(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """`/slow` answers after 1 s, anything else at once."""
    if request.target == "/slow":
        await asyncio.sleep(1.0)
    writer.write(response(200, request.target.encode()))


async def test_least_conn_avoids_the_busy_pod(upstreams, gateway) -> None:
    ups = [await upstreams(slow_path) for _ in range(2)]
    gw = await gateway(document({N + "load-balance": "least_conn"}, [u.port for u in ups]))
    busy = asyncio.create_task(exchange(gw.port, get("lb.test", "/slow")))
    while not any(u.requests for u in ups):
        await asyncio.sleep(0.01)
    [busy_pod] = [i for i, u in enumerate(ups) if u.requests]
    served = await spread(gw, ups, [get("lb.test", f"/{i}") for i in range(10)])
    assert served == [1 - busy_pod] * 10
    [resp] = await busy
    assert resp.status == 200


def delayed(seconds: float):  # type: ignore[no-untyped-def]
    async def handler(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)
        writer.write(response(200, b"ok"))

    return handler


async def test_ewma_sends_most_requests_to_the_faster_pod(upstreams, gateway) -> None:
    ups = [await upstreams(delayed(0.05)), await upstreams(delayed(0.0))]
    gw = await gateway(document({N + "load-balance": "ewma"}, [u.port for u in ups]))
    counts = Counter(await spread(gw, ups, [get("lb.test", f"/{i}") for i in range(40)]))
    assert counts[1] >= 35, counts  # the slow pod is only tried until it is measured
