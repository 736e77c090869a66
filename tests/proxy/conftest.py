"""Fixtures for the data-plane tests: uvloop, recording upstreams, a gateway on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proxy.harness import GatewayUnderTest, Handler, Upstream, ok
from tests.proxy.process import GatewayProcess


@pytest.fixture
async def upstreams() -> AsyncIterator[Callable[..., Awaitable[Upstream]]]:
    started: list[Upstream] = []

    async def start(handler: Handler = ok, **kwargs: Any) -> Upstream:
        upstream = await Upstream(handler, **kwargs).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        await upstream.stop()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[GatewayUnderTest]]]:
    started: list[GatewayUnderTest] = []

    async def start(document: dict[str, Any], **kwargs: Any) -> GatewayUnderTest:
        gw = await GatewayUnderTest(tmp_path / f"manifests{len(started)}", **kwargs).start(document)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        await gw.stop()


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(document: dict[str, Any], *extra: str) -> GatewayProcess:
        proc = GatewayProcess(tmp_path / f"proc{len(started)}", document, *extra)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
