"""`load-balance` and `upstream-hash-by` through a running gateway against three pods."""

from __future__ import annotations

from collections import Counter

from tests.objects import ingress, path, rule
from tests.proxy.harness import cluster, exchange, get

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
