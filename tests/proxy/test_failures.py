"""Statuses and retries when pods misbehave (DESIGN.md invariant 9, reliability.md §4)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import pytest

from tests.proxy.harness import Recorded, exchange, get, manifests, response

pytestmark = pytest.mark.asyncio


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port whose accept queue is full: a new connection neither succeeds nor fails."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):  # fill the backlog (its size is rounded up by the kernel)
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    yield int(listener.getsockname()[1])
    for s in [*fillers, listener]:
        s.close()


async def reset(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


async def malformed(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")


async def stall(request: Recorded, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def truncated(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part")
    await writer.drain()
    writer.transport.abort()


async def bad_te(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")


async def test_no_route_is_404(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/api", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test", "/other"))
    assert resp.status == 404 and not resp.closed
    [resp] = await exchange(gw.port, get("unknown.test", "/api"))
    assert resp.status == 404
    assert up.requests == []


async def test_no_endpoints_is_503(upstreams, gateway) -> None:
    gw = await gateway(manifests([("app.test", "/", "Prefix", [])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 503


async def test_refused_is_502_after_every_endpoint_was_tried(gateway) -> None:
    gw = await gateway(manifests([("app.test", "/", "Prefix", [closed_port(), closed_port()])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 502
    log = gw.access_log()[-1]
    assert log["upstream_status"] == "502, 502" and log["upstream_addr"].count(",") == 1


async def test_connect_error_moves_to_the_next_endpoint(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [closed_port(), up.port])]))
    for _ in range(4):  # whichever endpoint round robin starts with
        [resp] = await exchange(gw.port, get("app.test", method="POST", body=b"x"))
        assert resp.status == 200
    assert len(up.requests) == 4


async def test_connect_timeout_is_504_and_tries_the_next(upstreams, gateway, blackhole) -> None:
    config = {"proxy-connect-timeout": "1"}
    gw = await gateway(manifests([("app.test", "/", "Prefix", [blackhole])], configmap=config))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 504
    up = await upstreams()
    await gw.update(
        manifests([("app.test", "/", "Prefix", [blackhole, up.port])], configmap=config)
    )
    for _ in range(2):
        [resp] = await exchange(gw.port, get("app.test"))
        assert resp.status == 200


async def test_reset_before_response_is_502(upstreams, gateway) -> None:
    up = await upstreams(reset)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 502


async def test_idempotent_request_is_retried_after_a_reset(upstreams, gateway) -> None:
    bad, good = await upstreams(reset), await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [bad.port, good.port])]))
    for _ in range(4):
        [resp] = await exchange(gw.port, get("app.test"))
        assert resp.status == 200


async def test_post_is_not_retried_once_sent(upstreams, gateway) -> None:
    bad, good = await upstreams(reset), await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [bad.port, good.port])]))
    statuses = []
    for _ in range(4):
        [resp] = await exchange(gw.port, get("app.test", method="POST", body=b"data"))
        statuses.append(resp.status)
    assert 502 in statuses and 200 in statuses
    assert len(bad.requests) == statuses.count(502)


async def test_non_idempotent_listed_allows_post_retries(upstreams, gateway) -> None:
    bad, good = await upstreams(reset), await upstreams()
    config = {"proxy-next-upstream": "error timeout non_idempotent"}
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [bad.port, good.port])], configmap=config)
    )
    for _ in range(4):
        [resp] = await exchange(gw.port, get("app.test", method="POST", body=b"data"))
        assert resp.status == 200


async def test_next_upstream_off_disables_retries(upstreams, gateway) -> None:
    config = {"proxy-next-upstream": "off"}
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [closed_port(), closed_port()])], configmap=config)
    )
    await exchange(gw.port, get("app.test"))
    assert gw.access_log()[-1]["upstream_status"] == "502"


async def test_malformed_response_is_502(upstreams, gateway) -> None:
    up = await upstreams(malformed)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 502


async def test_unsupported_response_transfer_encoding_is_502(upstreams, gateway) -> None:
    up = await upstreams(bad_te)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 502


async def test_read_timeout_is_504(upstreams, gateway) -> None:
    up = await upstreams(stall)
    config = {"proxy-read-timeout": "1", "proxy-next-upstream-tries": "1"}
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])], configmap=config))
    started = asyncio.get_running_loop().time()
    [resp] = await exchange(gw.port, get("app.test"))
    elapsed = asyncio.get_running_loop().time() - started
    assert resp.status == 504
    assert 0.9 < elapsed < 3


async def test_truncated_response_closes_the_client_connection(upstreams, gateway) -> None:
    up = await upstreams(truncated)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 200 and resp.header("Content-Length") == "100"
    assert resp.body == b"only-part" and resp.closed and not resp.complete


async def test_upstream_status_is_passed_through(upstreams, gateway) -> None:
    async def teapot(request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(response(503, b"busy"))

    up = await upstreams(teapot)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert (resp.status, resp.body) == (503, b"busy")
    assert len(up.requests) == 1  # http_503 is not in the default proxy-next-upstream
