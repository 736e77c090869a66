"""Per-Ingress timeouts through a running gateway against slow upstreams."""

from __future__ import annotations

import asyncio
import time

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"


async def slow_head(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answers after 1.5 s."""
    await asyncio.sleep(1.5)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")


async def trickle(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answers at once, then sends its body in five pieces 0.4 s apart."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    for _ in range(5):
        await writer.drain()
        await asyncio.sleep(0.4)
        writer.write(b"x")


def slow_cluster(up_port: int, trickle_port: int) -> dict:
    return cluster(
        [
            ingress(
                "short",
                rule("short.test", path("/", service="slow")),
                annotations={N + "proxy-read-timeout": "1"},
            ),
            ingress(
                "long",
                rule("long.test", path("/", service="slow")),
                annotations={N + "proxy-read-timeout": "3"},
            ),
            ingress(
                "total",
                rule("total.test", path("/", service="slow")),
                annotations={H + "timeout": "1"},
            ),
            ingress(
                "total-body",
                rule("body.test", path("/", service="trickle")),
                annotations={H + "timeout": "1"},
            ),
            ingress(
                "per-io",
                rule("io.test", path("/", service="trickle")),
                annotations={N + "proxy-read-timeout": "1"},
            ),
        ],
        {"slow": [up_port], "trickle": [trickle_port]},
        {"gateway-config": {"proxy-read-timeout": "30"}},
    )


async def test_read_timeout_overrides_the_global_one_per_ingress(upstreams, gateway) -> None:
    slow, slow_body = await upstreams(slow_head), await upstreams(trickle)
    gw = await gateway(slow_cluster(slow.port, slow_body.port))
    started = time.monotonic()
    [short] = await exchange(gw.port, get("short.test", "/"))
    assert short.status == 504 and time.monotonic() - started < 1.45
    [long] = await exchange(gw.port, get("long.test", "/"))
    assert (long.status, long.body) == (200, b"slow")
    # Per I/O: a body that keeps moving never trips a 1 s read timeout.
    [io] = await exchange(gw.port, get("io.test", "/"))
    assert (io.status, io.body) == (200, b"xxxxx")


async def stall(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answers at once, except `/stall`, which it leaves unanswered for 10 s."""
    if request.target == "/stall":
        await asyncio.sleep(10)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


async def test_a_shorter_read_timeout_applies_on_a_reused_connection(upstreams, gateway) -> None:
    """A pooled connection keeps its timer between requests (`UpstreamConnection.watch`): a
    request with a shorter read timeout than the previous one's must bring it forward."""
    up = await upstreams(stall)
    gw = await gateway(
        cluster(
            [
                ingress("plain", rule("plain.test", path("/", service="pods"))),
                ingress(
                    "short",
                    rule("short.test", path("/", service="pods")),
                    annotations={N + "proxy-read-timeout": "1"},
                ),
            ],
            {"pods": [up.port]},
            {"gateway-config": {"proxy-read-timeout": "30"}},
        )
    )
    [plain] = await exchange(gw.port, get("plain.test", "/"))
    assert plain.status == 200
    started = time.monotonic()
    async with asyncio.timeout(5):
        [short] = await exchange(gw.port, get("short.test", "/stall"))
    assert short.status == 504 and time.monotonic() - started < 1.45
    assert up.connections == 1  # the pooled connection, whose timer was set for 30 s


async def test_higress_timeout_bounds_the_whole_request(upstreams, gateway) -> None:
    slow, slow_body = await upstreams(slow_head), await upstreams(trickle)
    gw = await gateway(slow_cluster(slow.port, slow_body.port))
    started = time.monotonic()
    [resp] = await exchange(gw.port, get("total.test", "/"))
    assert resp.status == 504 and time.monotonic() - started < 1.45
    [resp] = await exchange(gw.port, get("body.test", "/"))
    assert resp.status == 200 and resp.closed and len(resp.body) < 5  # cut mid-body
    statuses = [(e["ingress"], e["upstream_status"]) for e in gw.access_log()]
    assert statuses == [("total", "504"), ("total-body", "200, 504")]
