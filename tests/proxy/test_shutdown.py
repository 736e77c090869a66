"""Graceful shutdown on SIGTERM (issue #3 §11), with the gateway as a real process."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.proxy.harness import Recorded, exchange, get, manifests, response
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
