"""Per-Ingress body settings through a running gateway: `proxy-body-size` and
`client-body-buffer-size` (issue 6 group 7)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response
from tests.proxy.test_bodies import chunked

N = "nginx.ingress.kubernetes.io/"


def document(
    ports: list[int], small: dict[str, str], large: dict[str, str], **settings: str
) -> dict[str, Any]:
    """Hosts `small.test` and `large.test` with their own annotations, one Service."""
    return cluster(
        [
            ingress("small", rule("small.test", path("/", service="app")), annotations=small),
            ingress("large", rule("large.test", path("/", service="app")), annotations=large),
        ],
        {"app": ports},
        {"gateway-config": settings},
    )


async def test_each_ingress_has_its_own_body_limit(upstreams, gateway) -> None:
    up = await upstreams(keep_body=False)
    gw = await gateway(
        document(
            [up.port],
            {N + "proxy-body-size": "1k"},
            {N + "proxy-body-size": "4m"},
            **{"proxy-body-size": "64k"},
        )
    )
    body = b"b" * 2048
    declared = get("small.test", method="POST", body=body)
    [resp] = await exchange(gw.port, declared)
    assert resp.status == 413 and resp.closed and up.requests == []  # before reading it
    streamed = b"POST / HTTP/1.1\r\nHost: small.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    [resp] = await exchange(gw.port, streamed + chunked(b"x" * 800, b"y" * 800))
    assert resp.status == 413 and resp.closed
    # Above the ConfigMap's 64k, within this Ingress's 4m: the body arrives with the head,
    # before the route is known, and is only judged once it is.
    [resp] = await exchange(gw.port, get("large.test", method="POST", body=b"L" * 3_000_000))
    assert resp.status == 200
    [resp] = await exchange(gw.port, get("large.test", method="POST", body=b"L" * 5_000_000))
    assert resp.status == 413


async def test_zero_lifts_the_limit_for_one_ingress(upstreams, gateway) -> None:
    up = await upstreams(keep_body=False)
    gw = await gateway(
        document([up.port], {}, {N + "proxy-body-size": "0"}, **{"proxy-body-size": "1k"})
    )
    big = get("large.test", method="PUT", body=b"z" * (3 * 1024 * 1024))
    [resp] = await exchange(gw.port, big)
    assert resp.status == 200
    [resp] = await exchange(gw.port, get("small.test", method="PUT", body=b"z" * 2048))
    assert resp.status == 413


async def busy(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(response(503, b"busy"))


async def test_client_body_buffer_size_bounds_what_a_retry_can_replay(upstreams, gateway) -> None:
    bad, good = await upstreams(busy), await upstreams()
    retry = {N + "proxy-next-upstream": "http_503"}
    gw = await gateway(
        document(
            [bad.port, good.port],
            retry,
            {**retry, N + "client-body-buffer-size": "256k"},
            **{"upstream-max-fails": "0"},
        )
    )
    body = b"p" * 200_000
    statuses = []
    for host in ("small.test", "large.test"):
        for _ in range(4):
            [resp] = await exchange(gw.port, get(host, method="PUT", body=body))
            statuses.append(resp.status)
    # small.test keeps the default 64k, so a 200k body is streamed and never replayed: the
    # 503s stand; large.test keeps 256k and replays every one of them.
    assert sorted(statuses[:4]) == [200, 200, 503, 503]
    assert statuses[4:] == [200] * 4
