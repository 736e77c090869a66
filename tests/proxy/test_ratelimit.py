"""Local rate limits: nginx's per client address, Higress's per route (issue 6 group 8).

The decision logic is tested directly with a clock we move; the behaviour through a running
gateway, including the allowed rate measured under load (within 10 % of the configured one).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

from annotations.ratelimit import Rate, RateLimits
from gateway.proxy.ratelimit import RateLimiter
from routing.globals import GlobalConfig
from routing.model import Route
from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response
from tests.proxy.process import http_get

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"
HOST = "limits.test"


def limited_route(limits: RateLimits, ingress_name: str = "app", index: int = 0) -> Route:
    return Route(
        HOST, f"/{index}", "prefix", "default", ingress_name, "app", 80, "default/app:80", 0, index,
        limits=limits,
    )  # fmt: skip


def statuses(limiter: RateLimiter, route: Route, client: str, count: int, now: float) -> list[int]:
    out = []
    for _ in range(count):
        refusal, _slot = limiter.admit(route, client, now, GlobalConfig())
        out.append(refusal.status if refusal else 200)
    return out


def test_nginx_burst_is_served_at_once_then_the_rate() -> None:
    """`limit_req nodelay`: a new client gets burst + 1 at once, then one per 1/rate seconds;
    refused requests cost nothing."""
    limiter = RateLimiter()
    route = limited_route(RateLimits((Rate("rps", 2, 4),)))
    assert statuses(limiter, route, "10.0.0.1", 7, 100.0) == [200] * 5 + [503] * 2
    assert statuses(limiter, route, "10.0.0.1", 1, 100.4) == [503]
    assert statuses(limiter, route, "10.0.0.1", 2, 100.5) == [200, 503]
    assert statuses(limiter, route, "10.0.0.2", 6, 100.5) == [200] * 5 + [503]  # own budget
    assert statuses(limiter, route, "10.0.0.1", 5, 110.0) == [200] * 4 + [503]  # refilled to B
    assert limiter.refused == {("default", "app", "rps"): 6}


def test_every_rate_must_pass_and_a_refusal_charges_none() -> None:
    limiter = RateLimiter()
    route = limited_route(RateLimits((Rate("rps", 10, 10), Rate("rpm", 1 / 60, 2))))
    assert statuses(limiter, route, "c", 4, 0.0) == [200, 200, 200, 503]
    # The rps zone was not charged by the refused request: after 0.1 s it still has room,
    # and the rpm zone, refilled by only 1/600 of a request, still refuses.
    assert statuses(limiter, route, "c", 1, 0.1) == [503]
    assert limiter.refused == {("default", "app", "rpm"): 2}


def test_zones_are_per_ingress_and_shared_by_its_paths() -> None:
    limiter = RateLimiter()
    limits = RateLimits((Rate("rps", 1, 1),))
    first, second = limited_route(limits, index=0), limited_route(limits, index=1)
    other = limited_route(limits, ingress_name="other")
    assert statuses(limiter, first, "c", 1, 0.0) + statuses(limiter, second, "c", 2, 0.0) == [
        200,
        200,
        503,
    ]
    assert statuses(limiter, other, "c", 2, 0.0) == [200, 200]


def test_memory_stays_bounded_under_many_client_addresses() -> None:
    """200,000 distinct clients: each zone keeps `limit-zone-clients`, the newest ones."""
    limiter = RateLimiter()
    route = limited_route(RateLimits((Rate("rps", 1, 0),)))
    config = GlobalConfig(limit_zone_clients=1000)
    tracemalloc.start()
    try:
        for i in range(200_000):
            limiter.admit(route, f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", float(i), config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert limiter.clients() == {("default", "app"): 1000}
    assert peak < 2_000_000, peak
    # The newest client is still remembered (and limited); the oldest starts afresh.
    newest = "10.3.13.63"  # i = 199_999
    assert limiter.admit(route, newest, 199_999.0, config)[0] is not None
    assert limiter.admit(route, "10.0.0.0", 199_999.0, config)[0] is None


def test_connections_are_slots_given_back() -> None:
    limiter = RateLimiter()
    route = limited_route(RateLimits(connections=2))
    config = GlobalConfig(limit_conn_status_code=429)
    (r1, s1), (r2, s2) = (limiter.admit(route, "c", 0.0, config) for _ in range(2))
    assert r1 is None and r2 is None and s1 == s2 == (("default", "app"), "c")
    refusal, slot = limiter.admit(route, "c", 0.0, config)
    assert refusal is not None and refusal.status == 429 and slot is None
    assert limiter.admit(route, "d", 0.0, config)[0] is None
    assert s1 is not None
    limiter.release(s1)
    assert limiter.admit(route, "c", 0.0, config)[0] is None


def test_allowlisted_clients_are_never_limited() -> None:
    limiter = RateLimiter()
    route = limited_route(RateLimits((Rate("rps", 1, 0),), 1, exempt=("10.0.0.0/8",)))
    assert statuses(limiter, route, "10.9.9.9", 5, 0.0) == [200] * 5
    assert statuses(limiter, route, "11.0.0.1", 2, 0.0) == [200, 503]


def test_higress_bucket_is_per_route_starts_full_and_answers_429() -> None:
    limiter = RateLimiter()
    route = limited_route(RateLimits(route_rate=Rate("route", 2, 3)))
    assert statuses(limiter, route, "a", 2, 0.0) + statuses(limiter, route, "b", 2, 0.0) == [
        200,
        200,
        200,
        429,
    ]
    refusal, _ = limiter.admit(route, "c", 0.0, GlobalConfig())
    assert refusal is not None and refusal.page == ("text/plain", b"local_rate_limited")
    assert statuses(limiter, route, "a", 2, 0.5) == [200, 429]  # refilled by one
    assert statuses(limiter, route, "a", 4, 10.0) == [200] * 3 + [429]  # never above the size
    assert limiter.refused == {("default", "app", "route"): 4}


# --- through a running gateway ---------------------------------------------------------------


def document(ports: list[int], annotations: dict[str, str], **settings: str) -> dict[str, Any]:
    return cluster(
        [
            ingress(
                "app",
                rule(HOST, path("/a", service="app"), path("/b", service="app")),
                annotations=annotations,
            )
        ],
        {"app": ports},
        {"gateway-config": {"use-forwarded-headers": "true", **settings}},
    )


def from_client(client: str, target: str = "/a") -> bytes:
    return get(HOST, target, headers=[("X-Forwarded-For", client)])


async def send(gw, client: str, count: int, target: str = "/a") -> list[int]:  # type: ignore[no-untyped-def]
    """`count` requests pipelined on one connection; their statuses."""
    responses = await exchange(gw.port, from_client(client, target) * count, responses=count)
    return [r.status for r in responses]


async def measured_rate(gw, client: str, seconds: float, burst: int) -> float:  # type: ignore[no-untyped-def]
    """Send as fast as the gateway answers for `seconds`; the admitted rate after the burst."""
    allowed, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        allowed += (await send(gw, client, 20)).count(200)
    return (allowed - burst) / elapsed


async def test_nginx_rate_is_kept_within_ten_percent(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        document([up.port], {N + "limit-rps": "20", N + "limit-burst-multiplier": "1"})
    )
    rate = await measured_rate(gw, "10.1.1.1", 3.0, burst=21)
    assert 18 <= rate <= 22, rate
    # Refused with the ConfigMap's status (default 503), and counted.
    assert (await send(gw, "10.1.1.1", 3))[-1] == 503
    assert (await send(gw, "10.2.2.2", 30))[:21] == [200] * 21  # another client's own budget
    _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{gw.admin_port}/metrics")
    text = body.decode()
    assert (
        'gateway_rate_limited_requests_total{ingress="app",limit="rps",namespace="default"}' in text
    )
    assert 'gateway_rate_limit_clients{ingress="app",namespace="default"} 2.0' in text


async def test_higress_route_rate_is_kept_within_ten_percent(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        document([up.port], {H + "route-limit-rps": "20", H + "route-limit-burst-multiplier": "1"})
    )
    rate = await measured_rate(gw, "10.1.1.1", 3.0, burst=20)
    assert 18 <= rate <= 22, rate
    # Every client together: a new one finds the bucket empty (but for what refilled since).
    refused = (await exchange(gw.port, from_client("10.3.3.3") * 20, responses=20))[-1]
    assert refused.status == 429 and refused.body == b"local_rate_limited"
    assert refused.header("content-type") == "text/plain" and not refused.closed
    assert (await send(gw, "10.3.3.3", 1, "/b")) == [200]  # each path has its own bucket


async def test_refusal_status_and_allowlist_come_from_the_configuration(upstreams, gateway) -> None:
    up = await upstreams()
    annotations = {
        N + "limit-rpm": "60",
        N + "limit-burst-multiplier": "1",
        N + "limit-allowlist": "192.168.0.0/16",
    }
    gw = await gateway(document([up.port], annotations, **{"limit-req-status-code": "429"}))
    assert await send(gw, "10.1.1.1", 62) == [200] * 61 + [429]
    assert await send(gw, "10.1.1.1", 1, "/b") == [429]  # the Ingress's paths share the zone
    assert await send(gw, "192.168.7.7", 100) == [200] * 100
    assert len(up.requests) == 161


async def test_limit_connections_counts_requests_in_progress(upstreams, gateway) -> None:
    release = asyncio.Event()

    async def slow(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.write(response(200))

    up = await upstreams(slow)
    gw = await gateway(
        document([up.port], {N + "limit-connections": "2"}, **{"limit-conn-status-code": "503"})
    )
    held = [asyncio.create_task(exchange(gw.port, from_client("10.1.1.1"))) for _ in range(2)]
    other = asyncio.create_task(exchange(gw.port, from_client("10.2.2.2")))
    while len(up.requests) < 3:
        await asyncio.sleep(0.01)
    [refused] = await exchange(gw.port, from_client("10.1.1.1", "/b"))  # the Ingress's count
    assert refused.status == 503
    release.set()
    for task in (*held, other):
        [resp] = await task
        assert resp.status == 200
    assert await send(gw, "10.1.1.1", 3) == [200] * 3  # slots given back


async def test_many_client_addresses_keep_memory_bounded(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(document([up.port], {N + "limit-rps": "1"}, **{"limit-zone-clients": "50"}))
    for batch in range(10):
        clients = b"".join(from_client(f"10.0.{batch}.{i}") for i in range(30))
        assert len(await exchange(gw.port, clients, responses=30)) == 30
    assert gw.gateway.proxy.limiter.clients() == {("default", "app"): 50}
    # The most recent clients are remembered: their burst (5 + 1) is partly spent.
    assert await send(gw, "10.0.9.29", 6) == [200] * 5 + [503]
