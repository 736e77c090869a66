"""Hot reload (DESIGN.md invariants 1-3): swaps under load fail no request, a request in flight
keeps its snapshot, settings apply without a restart, a bad edit keeps the last good state."""

from __future__ import annotations

import asyncio
import gc
import json
import urllib.request
from collections import Counter

import pytest

from tests.proxy.harness import Recorded, exchange, get, manifests, response

pytestmark = pytest.mark.asyncio


async def _client(port: int, stop: asyncio.Event, statuses: Counter[int], limit: int) -> None:
    """Keep-alive client: requests in a loop until told to stop (bounded by `limit`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(limit):
            if stop.is_set():
                break
            writer.write(get("app.test", "/load"))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            statuses[status] += 1
            if b"Connection: close" in head:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def test_swaps_under_load_fail_no_request(upstreams, gateway) -> None:
    a, b = await upstreams(), await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [a.port])]))
    stop = asyncio.Event()
    statuses: Counter[int] = Counter()
    clients = [asyncio.create_task(_client(gw.port, stop, statuses, 5000)) for _ in range(8)]
    documents = [
        manifests([("app.test", "/", "Prefix", [b.port])]),
        manifests(
            [("app.test", "/", "Prefix", [a.port, b.port]), ("other.test", "/", "Prefix", [a.port])]
        ),
        manifests([("app.test", "/", "Prefix", [a.port])], configmap={"keep-alive-requests": "50"}),
        manifests([("app.test", "/", "Prefix", [b.port, a.port])]),
        manifests([("app.test", "/", "Prefix", [a.port])]),
    ]
    generation = gw.gateway.holder.generation
    for document in documents:
        await asyncio.sleep(0.3)
        await gw.update(document)
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*clients), 30)
    assert gw.gateway.holder.generation == generation + len(documents)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 200
    assert a.requests and b.requests


async def test_request_in_flight_keeps_the_snapshot_it_started_with(upstreams, gateway) -> None:
    async def slow(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.5)
        writer.write(response(200, b"finished"))

    up = await upstreams(slow)
    gw = await gateway(manifests([("app.test", "/old", "Prefix", [up.port])]))
    in_flight = asyncio.create_task(exchange(gw.port, get("app.test", "/old")))
    await asyncio.sleep(0.1)
    await gw.update(manifests([("app.test", "/new", "Prefix", [up.port])]))
    [after] = await exchange(gw.port, get("app.test", "/old"))
    assert after.status == 404
    [before] = await in_flight
    assert (before.status, before.body) == (200, b"finished")


async def test_endpoint_only_change_reuses_the_route_table(upstreams, gateway) -> None:
    a, b = await upstreams(), await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [a.port])]))
    table = gw.gateway.holder.current.table
    await gw.update(manifests([("app.test", "/", "Prefix", [b.port])]))
    assert gw.gateway.holder.current.table is table
    await exchange(gw.port, get("app.test"))
    assert b.requests and not a.requests


async def test_settings_change_without_restart_and_bad_values_keep_the_previous(
    upstreams, gateway
) -> None:
    up = await upstreams(keep_body=False)
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "1k"})
    )
    body = b"x" * 2000
    [resp] = await exchange(gw.port, get("app.test", method="POST", body=body))
    assert resp.status == 413
    await gw.update(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "4k"})
    )
    [resp] = await exchange(gw.port, get("app.test", method="POST", body=body))
    assert resp.status == 200
    await gw.update(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "lots"})
    )
    [resp] = await exchange(gw.port, get("app.test", method="POST", body=body * 3))
    assert resp.status == 413  # still 4k
    document = await asyncio.to_thread(_debug_routes, gw.admin_port)
    [problem] = [p for p in document["problems"] if p["kind"] == "ConfigMap"]
    assert problem["field"] == "data.proxy-body-size" and "previous value" in problem["reason"]


async def test_a_file_that_stops_parsing_keeps_its_last_good_objects(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    (gw.folder / "cluster.json").write_text("{ this is not json")
    await asyncio.sleep(0.4)  # several polls
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 200


async def test_deleting_a_file_deletes_its_objects(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    generation = gw.gateway.holder.generation
    (gw.folder / "cluster.json").unlink()
    await gw.wait_generation(generation + 1)
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 404


def _debug_routes(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/routes", timeout=5) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


async def test_one_process_freezes_each_new_route_table(upstreams, gateway) -> None:
    """`--workers 1` settles the heap as workers do (docs/deployment.md): each new route table
    is collected once and frozen out of the collector's sight; an endpoint-only swap keeps the
    table and does not collect again."""
    a, b = await upstreams(), await upstreams()
    gc.unfreeze()
    try:
        gw = await gateway(manifests([("app.test", "/", "Prefix", [a.port])]))
        assert gw.gateway is not None
        holder = gw.gateway.holder
        first = holder.current
        assert first is not None
        assert gc.get_freeze_count() > 0 and not any(o is first.table for o in gc.get_objects())
        since = [object()]  # made after the settle: tracked until the next one freezes it

        await gw.update(manifests([("app.test", "/", "Prefix", [b.port])]))  # pods moved
        moved = holder.current
        assert moved is not None and moved.table is first.table
        assert any(o is since for o in gc.get_objects())  # no settle for the same table

        await gw.update(manifests([("app.test", "/api", "Prefix", [b.port])]))  # a new route
        changed = holder.current
        assert changed is not None and changed.table is not first.table
        assert not any(o is since or o is changed.table for o in gc.get_objects())
        assert (await exchange(gw.port, get("app.test", "/api")))[0].status == 200
    finally:
        gc.unfreeze()

