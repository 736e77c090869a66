"""Bodies stream both ways with bounded memory (DESIGN.md invariant 8), measured on a real
gateway process: 200 MB each way by default, 1 GiB with --run-slow."""

from __future__ import annotations

import asyncio

import pytest

from tests.proxy.harness import Recorded, manifests, response
from tests.proxy.process import GatewayProcess

pytestmark = pytest.mark.asyncio

MB = 1024 * 1024
PIECE = b"\xab" * (256 * 1024)
RSS_GROWTH_LIMIT = 48 * MB
"""Whatever the body size: a few socket buffers and the interpreter's own churn."""


class RssSampler:
    def __init__(self, gateway: GatewayProcess) -> None:
        self.gateway = gateway
        self.baseline = gateway.rss_bytes()
        self.peak = self.baseline
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.gateway.rss_bytes())
            await asyncio.sleep(0.02)

    def stop(self) -> int:
        self._task.cancel()
        return self.peak - self.baseline


async def _download(size: int, upstreams, gateway_process) -> None:
    async def big(request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        for _ in range(size // len(PIECE)):
            writer.write(PIECE)
            await writer.drain()

    up = await upstreams(big)
    gw = gateway_process(manifests([("app.test", "/", "Prefix", [up.port])]))
    await gw.await_ready()
    sampler = RssSampler(gw)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /big HTTP/1.1\r\nHost: app.test\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    received = len(await reader.readexactly(MB))
    await asyncio.sleep(1.0)  # a client that stops reading: the gateway must stop too
    while received < size:
        received += len(await reader.read(4 * MB))
    writer.close()
    growth = sampler.stop()
    assert received == size
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / MB:.1f} MB"


async def _upload(size: int, upstreams, gateway_process) -> None:
    async def count(request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"got it"))

    up = await upstreams(count, keep_body=False)
    gw = gateway_process(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "0"})
    )
    await gw.await_ready()
    sampler = RssSampler(gw)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(f"POST /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: {size}\r\n\r\n".encode())
    for _ in range(size // len(PIECE)):
        writer.write(PIECE)
        await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    writer.close()
    growth = sampler.stop()
    assert head.startswith(b"HTTP/1.1 200")
    assert up.body_bytes >= size
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / MB:.1f} MB"


async def test_download_200mb_with_bounded_memory(upstreams, gateway_process) -> None:
    await _download(200 * MB, upstreams, gateway_process)


async def test_upload_200mb_with_bounded_memory(upstreams, gateway_process) -> None:
    await _upload(200 * MB, upstreams, gateway_process)


@pytest.mark.slow
async def test_download_1gib_with_bounded_memory(upstreams, gateway_process) -> None:
    await _download(1024 * MB, upstreams, gateway_process)


@pytest.mark.slow
async def test_upload_1gib_with_bounded_memory(upstreams, gateway_process) -> None:
    await _upload(1024 * MB, upstreams, gateway_process)
