"""How fast a change reaches every worker (issue #8): `python -m bench.workers.ship`.

    python -m bench.workers.ship            # 1,000 and 10,000 Ingresses, 5 repeats
    python -m bench.workers.ship --quick    # 100 Ingresses, 1 repeat: a smoke run

Runs the real supervisor side (`gateway.workers.WorkerPool`) with two real worker processes,
and swaps snapshots compiled from the micro-benchmarks' synthetic cluster into its holder:

* `full`: a new route table (after an empty one), pickled once and unpickled by each worker;
* `one Service`: one Service's pods moved, the common endpoint-only change;
* `every Service`: every Service's pods moved at once (a cluster-wide rollout), the largest
  endpoint-only change.

Reported per change: the size of the message one worker receives, and the time from the swap in
the supervisor until both workers serve the new snapshot (`WorkerPool.live`), as the median of
the repeats. Compile time is not included (see bench/micro for it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from typing import Any

from bench.micro.fixtures import cluster
from bench.micro.run import _ingest
from gateway.metrics import Metrics
from gateway.settings import RunSettings
from gateway.snapshot import SnapshotHolder
from gateway.workers.supervisor import WorkerPool
from routing.compile import compile_snapshot
from routing.snapshot import Snapshot


def _moved_one(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`objects` with the first EndpointSlice's pods at new addresses."""
    moved = list(objects)
    for index, obj in enumerate(moved):
        if obj["kind"] == "EndpointSlice":
            endpoints = [
                {**e, "addresses": [f"10.255.{index % 250}.{k}"]}
                for k, e in enumerate(obj["endpoints"], 1)
            ]
            moved[index] = {**obj, "endpoints": endpoints}
            return moved
    raise AssertionError("no EndpointSlice")


async def measure(n: int, repeats: int) -> dict[str, tuple[int, float]]:
    """Per change: (bytes, median ms) for a cluster of `n` Ingresses."""
    from gateway.control.store import Store

    store = Store()
    _ingest(store, cluster(n))
    first = compile_snapshot(store.state())
    variants: dict[str, list[Snapshot]] = {"one Service": [], "every Service": []}
    previous = first
    for repeat in range(repeats):
        # Swapped in this order: one Service moved on top of the previous snapshot, then
        # every Service moved.
        _ingest(store, _moved_one(cluster(n, endpoint_generation=repeat)))
        one = compile_snapshot(store.state(), previous=previous)
        _ingest(store, cluster(n, endpoint_generation=repeat + 1))
        every = compile_snapshot(store.state(), previous=one)
        assert one.table is first.table and every.table is first.table
        variants["one Service"].append(one)
        variants["every Service"].append(every)
        previous = every
    holder = SnapshotHolder()
    settings = RunSettings(
        listen=("127.0.0.1", 0),
        listen_tls=("127.0.0.1", 0),
        workers=2,
        log_level="warning",
        shutdown_delay=0.0,
        shutdown_timeout=5.0,
    )
    pool = WorkerPool(settings, holder, Metrics())
    await pool.start()
    results: dict[str, list[tuple[int, float]]] = {}
    empty = compile_snapshot(Store().state())
    try:
        for _ in range(3):  # the first round also waits for the workers to start
            holder.swap(empty)
            await asyncio.wait_for(pool.live(holder.generation), 60)
            holder.swap(first)
            shipment = await asyncio.wait_for(pool.live(holder.generation), 120)
            results.setdefault("full", []).append((shipment.size, shipment.seconds or 0.0))
        for repeat in range(repeats):
            for name in ("one Service", "every Service"):
                holder.swap(variants[name][repeat])
                shipment = await asyncio.wait_for(pool.live(holder.generation), 60)
                assert shipment.shipped == "endpoints", shipment
                results.setdefault(name, []).append((shipment.size, shipment.seconds or 0.0))
                await asyncio.sleep(0.2)
    finally:
        await pool.drain()
    return {
        name: (max(size for size, _ in runs), statistics.median(s for _, s in runs) * 1000)
        for name, runs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes, repeats = ((100,), 1) if args.quick else ((1000, 10000), args.repeats)
    tempfile.tempdir = None
    print(f"2 workers; median of {repeats} repeat(s); swap in the supervisor → live in both")
    print("| Ingresses | change | shipped | bytes | ms |")
    print("|---:|---|---|---:|---:|")
    import uvloop

    for n in sizes:
        figures = uvloop.run(measure(n, repeats))
        for name, (size, ms) in figures.items():
            shipped = "snapshot" if name == "full" else "endpoint sets"
            print(f"| {n:,} | {name} | {shipped} | {size:,} | {ms:.1f} |")


if __name__ == "__main__":
    main()
