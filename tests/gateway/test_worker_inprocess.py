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
    Leaving,
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


def _start() -> Start:
    return Start(0, (), (), self_signed(), 0.0, 1.0, "warning", None)


@pytest.fixture
async def channel_and_worker() -> AsyncIterator[tuple[Channel, Worker]]:
    ours, theirs = socket.socketpair()
    supervisor, channel = await Channel.open(ours), await Channel.open(theirs)
    worker = Worker(channel, _start())
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


def _endpoint_update() -> EndpointUpdate:
    base = compile_objects(_cluster("10.0.0.1"))
    delta = endpoint_delta(base, compile_objects(_cluster("10.0.0.2"), previous=base))
    assert delta is not None
    return EndpointUpdate(1, Payload.of(delta))


async def test_a_worker_whose_channel_task_fails_stops_and_exits_non_zero() -> None:
    """An endpoint update before any snapshot cannot be applied: the worker must not go on
    without hearing the supervisor, but leave (and exit 1) so that a fresh one replaces it."""
    ours, theirs = socket.socketpair()
    supervisor, channel = await Channel.open(ours), await Channel.open(theirs)
    running = asyncio.get_running_loop().create_task(Worker(channel, _start()).run())
    try:
        supervisor.send(_endpoint_update())
        assert await asyncio.wait_for(running, 10) == 1
        received = [await asyncio.wait_for(supervisor.receive(), 5) for _ in range(2)]
        assert any(isinstance(m, Leaving) for m in received), received
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        supervisor.close()
        channel.close()
        await asyncio.sleep(0)


async def test_what_is_sent_after_the_other_end_has_gone_is_dropped() -> None:
    """The supervisor can die (or a worker) while the other side still sends: the sends must
    not raise (uvloop raises on a closed transport), and `receive` says EOFError."""
    ours, theirs = socket.socketpair()
    near = await Channel.open(ours)
    theirs.close()
    sizes = []
    for _ in range(3):
        sizes.append(near.send(Drain()))
        await asyncio.sleep(0.02)
    assert sizes[-1] == 0
    with pytest.raises(EOFError):
        await asyncio.wait_for(near.receive(), 5)
    near.close()
    await asyncio.sleep(0)
