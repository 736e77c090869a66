"""One worker's side of the channel, run in this process: how it applies what it is shipped.

The subprocess tests (tests/proxy/test_workers.py) show changes reaching real workers; this one
looks inside: the snapshot the worker serves after a full snapshot and an endpoint update, and
the collector state `gateway.heap` leaves behind (frozen after a full snapshot, enabled again
after every change).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import AsyncIterator

import pytest

from gateway.proxy.tls import self_signed
from gateway.workers.channel import Channel, Payload
from gateway.workers.messages import (
    Applied,
    Drain,
    EndpointUpdate,
    FullSnapshot,
    Report,
    Serving,
    Start,
)
from gateway.workers.worker import Worker
from routing.delta import endpoint_delta
from routing.model import Endpoint
from tests.objects import compile_objects, endpoint_slice, ingress, path, rule, service

READY = {"ready": True}


def _cluster(pod: str) -> list[dict[str, object]]:
    return [
        ingress("i", rule("h", path("/", service="web"))),
        service("web", ("http", 80, 8080)),
        endpoint_slice("web-1", "web", [("http", 8080)], [(pod, READY)]),
    ]


@pytest.fixture
async def channel_and_worker() -> AsyncIterator[tuple[Channel, Worker]]:
    ours, theirs = socket.socketpair()
    supervisor, channel = await Channel.open(ours), await Channel.open(theirs)
    start = Start(0, (), (), self_signed(), 0.0, 1.0, "warning", None)
    worker = Worker(channel, start)
    running = asyncio.get_running_loop().create_task(worker.run())
    yield supervisor, worker
    supervisor.send(Drain())
    await asyncio.wait_for(running, 10)
    asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
    supervisor.close()
    channel.close()
    await asyncio.sleep(0)  # let both transports finish closing
    gc.unfreeze()


async def _applied(channel: Channel, generation: int) -> None:
    while True:
        message = await asyncio.wait_for(channel.receive(), 10)
        if isinstance(message, Applied):
            assert message.generation == generation
            return
        assert isinstance(message, Report | Serving), message


async def test_a_worker_serves_what_it_is_shipped_and_freezes_full_snapshots(
    channel_and_worker: tuple[Channel, Worker],
) -> None:
    supervisor, worker = channel_and_worker
    base = compile_objects(_cluster("10.0.0.1"))
    gc.unfreeze()
    supervisor.send(FullSnapshot(1, Payload.of(base)))
    await _applied(supervisor, 1)
    first = worker.holder.current
    assert first is not None and first.digest == base.digest
    assert gc.get_freeze_count() > 0 and gc.isenabled()  # settled after the full snapshot
    assert not any(o is first.table for o in gc.get_objects())

    moved = compile_objects(_cluster("10.0.0.2"), previous=base)
    delta = endpoint_delta(base, moved)
    assert delta is not None
    supervisor.send(EndpointUpdate(2, Payload.of(delta)))
    await _applied(supervisor, 2)
    served = worker.holder.current
    assert served is not None and served.digest == moved.digest
    [endpoints] = served.endpoints.values()
    assert endpoints == (Endpoint("10.0.0.2", 8080),) and type(endpoints[0]) is Endpoint
    assert served.table is first.table  # only the endpoint sets were rebuilt
    assert gc.isenabled()  # the pause ended with the update
