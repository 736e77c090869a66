"""Graceful shutdown (issue #3 §11): a real gateway process, or an in-process one for races."""

from __future__ import annotations

import asyncio
import signal

import pytest

from gateway.proxy.protocol import FIRST_REQUEST_GRACE
from tests.proxy.harness import (
    GatewayUnderTest,
    Recorded,
    Upstream,
    exchange,
    get,
    manifests,
    response,
)
from tests.proxy.process import http_get

pytestmark = pytest.mark.asyncio


async def test_sigterm_drains_in_flight_requests_and_exits_0(upstreams, gateway_process) -> None:
    async def slow(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.5 if request.target == "/slow" else 0)
        writer.write(response(200, request.target.encode()))

    up = await upstreams(slow)
    gw = gateway_process(
        manifests([("app.test", "/", "Prefix", [up.port])]),
        "--shutdown-delay",
        "1",
        "--shutdown-timeout",
        "10",
    )
    await gw.await_ready()
    in_flight = asyncio.create_task(exchange(gw.port, get("app.test", "/slow")))
    await asyncio.sleep(0.3)
    gw.signal(signal.SIGTERM)
    await asyncio.sleep(0.1)
    status, _ = await asyncio.to_thread(http_get, gw.url("/readyz"))
    assert status == 503  # readiness fails at once
    [during] = await exchange(gw.port, get("app.test", "/during"))
    assert during.status == 200  # still serving through the drain delay
    assert during.header("Connection") == "close"
    [slow_response] = await in_flight
    assert (slow_response.status, slow_response.body) == (200, b"/slow")
    assert slow_response.header("Connection") == "close"
    exit_code = await asyncio.to_thread(gw.proc.wait, 15)
    assert exit_code == 0
    with pytest.raises(OSError):
        await exchange(gw.port, get("app.test"))  # the listener is gone


async def test_idle_keep_alive_connections_are_closed_at_shutdown(
    upstreams, gateway_process
) -> None:
    up = await upstreams()
    gw = gateway_process(
        manifests([("app.test", "/", "Prefix", [up.port])]),
        "--shutdown-delay",
        "0",
        "--shutdown-timeout",
        "10",
    )
    await gw.await_ready()
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(get("app.test"))
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(1)
    gw.signal(signal.SIGTERM)
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the gateway, not by a timeout
    writer.close()
    assert await asyncio.to_thread(gw.proc.wait, 10) == 0


async def test_second_signal_exits_at_once(upstreams, gateway_process) -> None:
    async def stall(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    up = await upstreams(stall)
    gw = gateway_process(
        manifests([("app.test", "/", "Prefix", [up.port])]),
        "--shutdown-delay",
        "0",
        "--shutdown-timeout",
        "60",
    )
    await gw.await_ready()
    in_flight = asyncio.create_task(exchange(gw.port, get("app.test"), timeout=20))
    await asyncio.sleep(0.3)
    gw.signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    assert gw.proc.poll() is None  # draining, waiting for the stalled request
    gw.signal(signal.SIGINT)
    assert await asyncio.to_thread(gw.proc.wait, 5) == 1
    in_flight.cancel()


async def _listener_closed(port: int) -> None:
    """Wait until connecting to `port` is refused."""
    async with asyncio.timeout(5):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return
            writer.close()
            await asyncio.sleep(0.02)


async def _new_connection(
    upstreams, gateway
) -> tuple[Upstream, GatewayUnderTest, asyncio.StreamReader, asyncio.StreamWriter]:
    """A gateway and a connection it has accepted, on which nothing was sent yet."""
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]), shutdown_timeout=10)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    assert gw.gateway is not None and gw.gateway.plane is not None
    async with asyncio.timeout(5):
        while not gw.gateway.plane.proxy.connections:
            await asyncio.sleep(0.01)
    return up, gw, reader, writer


async def test_a_connection_accepted_before_shutdown_is_served_its_first_request(
    upstreams, gateway
) -> None:
    """Its client is sending a request it would not retry: closing it as idle fails it."""
    up, gw, reader, writer = await _new_connection(upstreams, gateway)
    stopping = asyncio.create_task(gw.stop())
    await _listener_closed(gw.port)
    writer.write(get("app.test", "/late"))
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"\r\nConnection: close\r\n" in head
        assert await reader.read() == b"/late"
        await stopping
    writer.close()
    assert [r.target for r in up.requests] == ["/late"]


async def test_a_new_connection_that_sends_nothing_is_closed_after_a_grace(
    upstreams, gateway
) -> None:
    _, gw, reader, writer = await _new_connection(upstreams, gateway)
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with asyncio.timeout(5):
        await gw.stop()
        assert await reader.read() == b""  # a silent close, as for an idle connection
    assert FIRST_REQUEST_GRACE <= loop.time() - began < FIRST_REQUEST_GRACE + 2
    writer.close()


async def test_a_request_cut_at_the_drain_deadline_is_not_counted_as_the_clients(
    upstreams, gateway
) -> None:
    """The gateway cuts what is still in flight when the drain's time is up: that is not a
    client going away, so no 499 is logged for it (docs/metrics.md#access-log)."""

    async def slow(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)
        writer.write(response())

    up = await upstreams(slow)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    in_flight = asyncio.create_task(exchange(gw.port, get("app.test", "/cut")))
    async with asyncio.timeout(5):
        while not up.requests:
            await asyncio.sleep(0.01)
    assert gw.gateway is not None and gw.gateway.plane is not None
    await gw.gateway.plane.proxy.drain(0.2)
    [cut] = await in_flight
    assert cut.status == 0 and cut.closed  # no answer: the connection was cut
    await asyncio.sleep(0.05)
    assert [entry["status"] for entry in gw.access_log()] == []
