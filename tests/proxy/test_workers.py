"""`gateway run --workers 2`: a supervisor and two worker processes on the same ports.

Each test starts the real command and reads which worker served a request from the access
log's `pid`. Load is bounded in count and time; every process is stopped by PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.proxy.harness import exchange, get, manifests
from tests.proxy.process import GatewayProcess, http_get

WORKERS = ("--workers", "2")


def worker_pids(gw: GatewayProcess) -> set[int]:
    """The supervisor's live children."""
    children = Path(f"/proc/{gw.proc.pid}/task/{gw.proc.pid}/children").read_text().split()
    return {int(pid) for pid in children if _alive(int(pid))}


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def wait_for(condition, timeout: float = 10.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def access_log(gw: GatewayProcess) -> list[dict[str, object]]:
    gw.stdout.flush()
    path = gw.folder.parent / f"{gw.folder.name}.stdout"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def served_by(gw: GatewayProcess, request_ids: set[str]) -> dict[str, int]:
    """Request ID → pid of the worker that logged it (waits for the log's batches)."""
    found: dict[str, int] = {}

    def logged() -> bool:
        found.update(
            {str(line["request_id"]): int(line["pid"]) for line in access_log(gw)}  # type: ignore[call-overload]
        )
        return request_ids <= set(found)

    await wait_for(logged, what="the access log lines")
    return {rid: found[rid] for rid in request_ids}


async def requests(port: int, count: int, prefix: str, host: str = "app.test") -> dict[str, int]:
    """`count` GETs, each on a new connection, eight at a time; request ID → status."""
    statuses: dict[str, int] = {}
    gate = asyncio.Semaphore(8)

    async def one(number: int) -> None:
        rid = f"{prefix}-{number}"
        async with gate:
            [reply] = await exchange(port, get(host, "/", headers=[("X-Request-ID", rid)]))
            statuses[rid] = reply.status

    await asyncio.gather(*(one(n) for n in range(count)))
    return statuses


def scrape(gw: GatewayProcess) -> dict[str, float]:
    """`/metrics` as sample name{labels} → value."""
    status, body = http_get(gw.url("/metrics"), 5.0)
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


REQUESTS_200 = (
    "gateway_requests_total{ingress=ing0,method=GET,namespace=default,service=svc0,status=200}"
)


async def test_two_workers_serve_and_their_metrics_add_up(upstreams, gateway_process) -> None:
    up = await upstreams()
    gw = gateway_process(manifests([("app.test", "/", "Prefix", [up.port])]), *WORKERS)
    await gw.await_ready()
    pids = worker_pids(gw)
    assert len(pids) == 2 and gw.proc.pid not in pids
    statuses = await requests(gw.port, 40, "a")
    assert set(statuses.values()) == {200}
    served = await served_by(gw, set(statuses))
    assert set(served.values()) == pids  # both workers accepted connections
    metrics = await asyncio.to_thread(scrape, gw)
    assert metrics[REQUESTS_200] == 40
    assert metrics["gateway_connections_total{}"] == 40
    assert metrics["gateway_workers{}"] == 2
    assert metrics["gateway_snapshot_propagation_seconds_count{shipped=full}"] == 1
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by scripts/setup (Debian package prometheus)"
    _, body = http_get(gw.url("/metrics"))
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert check.returncode == 0, check.stderr.decode() + check.stdout.decode()


def _certificate(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="unknown.test") as tls,
    ):
        return tls.getpeercert(binary_form=True) or b""


async def test_every_worker_presents_the_same_self_signed_certificate(
    upstreams, gateway_process
) -> None:
    up = await upstreams()
    gw = gateway_process(manifests([("app.test", "/", "Prefix", [up.port])]), *WORKERS)
    await gw.await_ready()
    certificates = {await asyncio.to_thread(_certificate, gw.tls_port) for _ in range(16)}
    assert len(certificates) == 1 and b"" not in certificates


async def test_a_reload_reaches_every_worker(upstreams, gateway_process) -> None:
    first, second = await upstreams(), await upstreams()
    gw = gateway_process(manifests([("app.test", "/", "Prefix", [first.port])]), *WORKERS)
    await gw.await_ready()
    # An endpoint-only change: the Service's pods move to the second upstream.
    (gw.folder / "cluster.json").write_text(
        json.dumps(manifests([("app.test", "/", "Prefix", [second.port])]))
    )
    await wait_for(
        lambda: (
            scrape(gw).get("gateway_snapshot_propagation_seconds_count{shipped=endpoints}") == 1
        ),
        what="the endpoint update",
    )
    before = len(first.requests)
    statuses = await requests(gw.port, 20, "moved")
    assert set(statuses.values()) == {200}
    assert len(first.requests) == before and len(second.requests) == 20
    assert set((await served_by(gw, set(statuses))).values()) == worker_pids(gw)
    # A route change: a new host, shipped as a whole snapshot.
    (gw.folder / "cluster.json").write_text(
        json.dumps(manifests([("new.test", "/", "Prefix", [second.port])]))
    )
    await wait_for(
        lambda: scrape(gw).get("gateway_snapshot_propagation_seconds_count{shipped=full}") == 2,
        what="the new route table",
    )
    statuses = await requests(gw.port, 20, "new", host="new.test")
    assert set(statuses.values()) == {200}
    assert set((await served_by(gw, set(statuses))).values()) == worker_pids(gw)
    assert set((await requests(gw.port, 4, "old")).values()) == {404}


async def _load(port: int, stop: asyncio.Event, results: list[int | str]) -> None:
    """Requests on new connections from four clients until `stop`; the status or error of
    each."""

    async def client() -> None:
        while not stop.is_set():
            try:
                async with asyncio.timeout(10):
                    [reply] = await exchange(port, get("app.test"))
                results.append(reply.status)
            except (OSError, TimeoutError, ValueError) as err:
                results.append(repr(err))

    await asyncio.gather(*(client() for _ in range(4)))


async def test_a_worker_stopped_under_load_is_replaced_without_a_failed_request(
    upstreams, gateway_process
) -> None:
    up = await upstreams()
    gw = gateway_process(
        manifests([("app.test", "/", "Prefix", [up.port])]),
        *WORKERS,
        "--shutdown-delay",
        "0.5",
    )
    await gw.await_ready()
    [leaving, staying] = sorted(worker_pids(gw))
    stop, results = asyncio.Event(), []
    load = asyncio.create_task(_load(gw.port, stop, results))
    await asyncio.sleep(1.0)
    os.kill(leaving, signal.SIGTERM)
    await wait_for(lambda: not _alive(leaving) and len(worker_pids(gw)) == 2, what="the new worker")
    await asyncio.sleep(1.0)
    stop.set()
    async with asyncio.timeout(15):
        await load
    failed = [r for r in results if r != 200]
    assert failed == [] and len(results) > 40
    replacement = worker_pids(gw) - {staying}
    assert len(replacement) == 1
    metrics = await asyncio.to_thread(scrape, gw)
    assert metrics[REQUESTS_200] == len(results)  # the drained worker's counts are kept
    assert metrics["gateway_worker_restarts_total{reason=drained}"] == 1


async def test_a_killed_worker_is_restarted_and_the_connections_queued_for_it_are_served(
    upstreams, gateway_process
) -> None:
    up = await upstreams()
    gw = gateway_process(manifests([("app.test", "/", "Prefix", [up.port])]), *WORKERS)
    await gw.await_ready()
    [victim, survivor] = sorted(worker_pids(gw))
    warm = await requests(gw.port, 10, "warm")
    counted = (await asyncio.to_thread(scrape, gw))[REQUESTS_200]
    assert counted == len(warm)
    os.kill(victim, signal.SIGSTOP)  # it accepts nothing more: its connections queue
    queued = asyncio.create_task(requests(gw.port, 16, "queued"))
    await asyncio.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    async with asyncio.timeout(15):
        statuses = await queued
    # The supervisor holds every listening socket, so the kernel kept the connections queued
    # on the dead worker's socket for its replacement instead of resetting them.
    assert set(statuses.values()) == {200}
    served = await served_by(gw, set(statuses))
    [replacement] = worker_pids(gw) - {survivor}
    assert set(served.values()) == {survivor, replacement}
    metrics = await asyncio.to_thread(scrape, gw)
    # The dead worker's requests were in its last report: the total only grew.
    assert metrics[REQUESTS_200] == counted + 16
    assert metrics["gateway_worker_restarts_total{reason=crashed}"] == 1
    assert metrics["gateway_workers{}"] == 2


async def test_sigterm_drains_every_worker(upstreams, gateway_process) -> None:
    async def slow(request, writer) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(1.0)
        from tests.proxy.harness import response

        writer.write(response(200, b"done"))

    up = await upstreams(slow)
    gw = gateway_process(
        manifests([("app.test", "/", "Prefix", [up.port])]),
        *WORKERS,
        "--shutdown-delay",
        "0",
    )
    await gw.await_ready()
    pids = worker_pids(gw)
    in_flight = [
        asyncio.create_task(exchange(gw.port, get("app.test", headers=[("X-Request-ID", f"s{n}")])))
        for n in range(8)
    ]
    await asyncio.sleep(0.4)
    gw.signal(signal.SIGTERM)
    await asyncio.sleep(0.1)
    assert (await asyncio.to_thread(http_get, gw.url("/readyz")))[0] == 503
    for task in in_flight:
        [reply] = await task
        assert (reply.status, reply.body) == (200, b"done")
    assert await asyncio.to_thread(gw.proc.wait, 15) == 0
    assert not any(_alive(pid) for pid in pids)
    served = await served_by(gw, {f"s{n}" for n in range(8)})
    assert set(served.values()) == pids  # requests in flight on both workers finished


async def test_the_workers_exit_when_the_supervisor_dies(upstreams, gateway_process) -> None:
    up = await upstreams()
    gw = gateway_process(manifests([("app.test", "/", "Prefix", [up.port])]), *WORKERS)
    await gw.await_ready()
    pids = worker_pids(gw)
    gw.signal(signal.SIGKILL)
    await asyncio.to_thread(gw.proc.wait, 5)
    await wait_for(lambda: not any(_alive(pid) for pid in pids), 10, "orphaned workers to exit")
