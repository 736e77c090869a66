"""Mirroring through a running gateway (issue 6 group 9): copies reach the mirror with the
right target, Host and body, their answers are dropped, and a dead, silent or slow mirror
never slows or fails the real request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response
from tests.proxy.process import free_port, http_get
from tests.proxy.test_bodies import chunked

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"
HOST = "app.test"


def document(
    annotations: dict[str, str], services: dict[str, list[int]], **settings: str
) -> dict[str, Any]:
    return cluster(
        [ingress("app", rule(HOST, path("/", service="app")), annotations=annotations)],
        services,
        {"gateway-config": settings},
    )


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def metrics(gw) -> str:  # type: ignore[no-untyped-def]
    _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{gw.admin_port}/metrics")
    return body.decode()


def copies(result: str) -> str:
    return f'gateway_mirror_requests_total{{ingress="app",namespace="default",result="{result}"}}'


async def refuse_with_500(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(response(500, b"mirror says no"))


async def test_nginx_copy_has_the_request_uri_host_and_body(upstreams, gateway) -> None:
    real, mirror = await upstreams(), await upstreams(refuse_with_500)
    target = f"http://127.0.0.1:{mirror.port}/$request_uri"  # `//` collapses to `/`
    gw = await gateway(document({N + "mirror-target": target}, {"app": [real.port]}))
    body = b"payload " * 1000
    request = get(HOST, "/orders/7?x=1", method="POST", body=body, headers=[("X-Trace", "t1")])
    [resp] = await exchange(gw.port, request)
    assert resp.status == 200 and resp.body == b"/orders/7?x=1"  # the mirror's 500 is dropped
    await eventually(lambda: len(mirror.requests) == 1)
    [copy] = mirror.requests
    assert copy.method == "POST" and copy.target == "/orders/7?x=1" and copy.body == body
    assert copy.header("Host") == "127.0.0.1"  # ingress-nginx: the URL's host name
    assert copy.header("X-Trace") == "t1" and copy.header("X-Forwarded-For") == "127.0.0.1"
    assert copy.header("X-Request-ID") == real.requests[0].header("X-Request-ID")
    assert copy.header("Connection") == "close"
    await eventually(lambda: len(gw.gateway.proxy.mirrors.copies) == 0)
    assert f"{copies('5xx')} 1.0" in await metrics(gw)


async def test_streamed_body_host_override_and_body_off(upstreams, gateway) -> None:
    real, mirror = await upstreams(), await upstreams()
    annotations = {
        N + "mirror-target": f"http://127.0.0.1:{mirror.port}/copy",
        N + "mirror-host": "copies.test",
    }
    gw = await gateway(document(annotations, {"app": [real.port]}))
    head = f"PUT /up HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    [resp] = await exchange(gw.port, head + chunked(b"a" * 70_000, b"b" * 70_000))
    assert resp.status == 200
    await eventually(lambda: len(mirror.requests) == 1)
    copy = mirror.requests[0]
    assert copy.target == "/copy" and copy.header("Host") == "copies.test"
    assert copy.body == b"a" * 70_000 + b"b" * 70_000 == real.requests[0].body

    await gw.update(
        document({**annotations, N + "mirror-request-body": "off"}, {"app": [real.port]})
    )
    [resp] = await exchange(gw.port, get(HOST, "/up", method="POST", body=b"secret"))
    assert resp.status == 200
    await eventually(lambda: len(mirror.requests) == 2)
    bodiless = mirror.requests[1]
    assert bodiless.body == b"" and bodiless.header("Content-Length") == "0"


async def test_a_dead_mirror_fails_nothing(upstreams, gateway) -> None:
    real = await upstreams()
    dead = f"http://127.0.0.1:{free_port()}$request_uri"
    gw = await gateway(document({N + "mirror-target": dead}, {"app": [real.port]}))
    responses = await exchange(gw.port, get(HOST, "/x") * 20, responses=20)
    assert [r.status for r in responses] == [200] * 20
    await eventually(lambda: len(gw.gateway.proxy.mirrors.copies) == 0)
    assert f"{copies('failed')} 20.0" in await metrics(gw)


async def test_a_silent_mirror_does_not_slow_the_request(upstreams, gateway) -> None:
    never = asyncio.Event()

    async def silent(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await never.wait()

    real, mirror = await upstreams(), await upstreams(silent)
    annotations = {N + "mirror-target": f"http://127.0.0.1:{mirror.port}$request_uri"}
    gw = await gateway(document(annotations, {"app": [real.port]}, **{"proxy-read-timeout": "1"}))
    started = time.monotonic()
    responses = await exchange(gw.port, get(HOST, "/slow") * 5, responses=5)
    assert [r.status for r in responses] == [200] * 5
    assert time.monotonic() - started < 0.5
    await eventually(lambda: len(mirror.requests) == 5)
    assert "gateway_mirror_requests_in_flight 5.0" in await metrics(gw)
    # The copies give up after the read timeout, counted as failed.
    await eventually(lambda: len(gw.gateway.proxy.mirrors.copies) == 0, timeout=3)
    assert f"{copies('failed')} 5.0" in await metrics(gw)


async def test_a_mirror_that_does_not_read_is_dropped_not_waited_for(upstreams, gateway) -> None:
    """24 MiB to a mirror that never reads: the copy is dropped once its unsent bytes pass the
    bound, and the real upload goes on at full speed."""
    real = await upstreams(keep_body=False)
    held: list[asyncio.StreamWriter] = []

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keeps the connection open; the reader is never read

    stuck = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = stuck.sockets[0].getsockname()[1]
    try:
        annotations = {N + "mirror-target": f"http://127.0.0.1:{port}$request_uri"}
        gw = await gateway(document(annotations, {"app": [real.port]}, **{"proxy-body-size": "0"}))
        size = 24 * 1024 * 1024
        [resp] = await exchange(gw.port, get(HOST, "/big", method="PUT", body=b"z" * size))
        assert resp.status == 200 and real.body_bytes >= size
        await eventually(lambda: len(gw.gateway.proxy.mirrors.copies) == 0)
        assert f"{copies('dropped')} 1.0" in await metrics(gw)
    finally:
        stuck.close()
        for writer in held:
            writer.transport.abort()


async def test_higress_service_mirror_with_shadow_host_and_percentage(upstreams, gateway) -> None:
    real, shadow = await upstreams(), await upstreams()
    annotations = {
        H + "mirror-target-service": "shadow",
        H + "mirror-percentage": "50",
        N + "rewrite-target": "/v2/$1",
        N + "use-regex": "true",
    }
    doc = cluster(
        [
            ingress(
                "app",
                rule(HOST, path("/v1/(.*)", "ImplementationSpecific", service="app")),
                annotations=annotations,
            )
        ],
        {"app": [real.port], "shadow": [shadow.port]},
    )
    gw = await gateway(doc)
    [first] = await exchange(gw.port, get(HOST, "/v1/a"))
    assert first.status == 200
    for _ in range(10):
        await exchange(gw.port, get(HOST, "/v1/a") * 20, responses=20)
    await eventually(lambda: len(gw.gateway.proxy.mirrors.copies) == 0)
    # 201 requests, each copied with probability 1/2: 60..140 is more than 5 sigma wide.
    assert 60 <= len(shadow.requests) <= 140, len(shadow.requests)
    copy = shadow.requests[0]
    assert copy.header("Host") == f"{HOST}-shadow" and copy.target == "/v2/a"


async def test_a_mirror_service_without_endpoints_is_a_warning(upstreams, gateway) -> None:
    real = await upstreams()
    doc = document({H + "mirror-target-service": "gone"}, {"app": [real.port]})
    gw = await gateway(doc)
    [resp] = await exchange(gw.port, get(HOST, "/"))
    assert resp.status == 200
    snapshot = gw.gateway.holder.current
    [problem] = [p for p in snapshot.problems if p.code == "MissingService"]
    assert "requests are not mirrored" in problem.reason
    assert problem.field == "metadata.annotations[higress.io/mirror-target-service]"
