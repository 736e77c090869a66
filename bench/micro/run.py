"""Routing micro-benchmarks (issue #2 §8). Not a timed test: prints figures to record in
bench/RESULTS.md.

    python -m bench.micro.run            # full run: 10 / 1,000 / 10,000 Ingresses
    python -m bench.micro.run --quick    # seconds-long smoke run, as CI does

Reported:
* match: best ns per `Matcher.match` on a depth-4 request path, sizes timed interleaved, for 10
  and for 10,000 Ingresses (target: the latter within 1.2x of the former);
* ingest: convert + admit (annotations parsed once per version) of every object;
* compile: `compile_snapshot` from the store's state (target: 10,000 Ingresses under 1 s);
* endpoint-only: recompiling after every Service's pods moved, reusing the route table.
"""

from __future__ import annotations

import argparse
import gc
import time
import timeit
from collections.abc import Callable

from bench.micro.fixtures import cluster
from gateway.control.store import Store
from routing.compile import compile_snapshot
from routing.convert import convert
from routing.snapshot import Snapshot


def _ingest(store: Store, objects: list[dict[str, object]]) -> None:
    items = []
    for position, obj in enumerate(objects, 1):
        converted = convert(obj, position=position)
        assert converted.view is not None
        items.append((converted.view.meta.key, converted.view, converted.problems))
    store.replace_all(items)


def _best_of(repeats: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def _request(n: int) -> tuple[str, str]:
    """A depth-4 request to the last tenant's Ingress: an Exact miss, then a Prefix hit."""
    i = n - 1
    return f"tenant{i % 500}.example.com", f"/svc{i}/v1/items/42"


def build(n: int, *, repeats: int) -> tuple[Snapshot, dict[str, float]]:
    """Ingest and compile a cluster of `n` Ingresses; the snapshot and the timings."""
    objects = cluster(n)
    store = Store()
    ingest = _best_of(1, lambda: _ingest(store, objects))
    state = store.state()
    compile_s = _best_of(repeats, lambda: compile_snapshot(state))
    snapshot = compile_snapshot(state)
    _ingest(store, cluster(n, endpoint_generation=1))
    moved = store.state()
    endpoint_only = _best_of(repeats, lambda: compile_snapshot(moved, previous=snapshot))
    assert compile_snapshot(moved, previous=snapshot).table is snapshot.table
    assert snapshot.matcher.match(*_request(n)) is not None
    figures = {
        "ingresses": n,
        "routes": len(snapshot.table.routes),
        "ingest_s": ingest,
        "compile_s": compile_s,
        "endpoint_only_s": endpoint_only,
    }
    return snapshot, figures


def match_ns(snapshots: dict[int, Snapshot], number: int, rounds: int) -> dict[int, float]:
    """Best ns per match for each size, timed in interleaved rounds so that every size sees the
    same machine state (measuring sizes one after the other showed a 1.3x bias on this machine)."""
    best = {n: float("inf") for n in snapshots}
    gc.collect()
    gc.freeze()
    for _ in range(rounds):
        for n, snapshot in snapshots.items():
            match = snapshot.matcher.match
            host, path = _request(n)
            seconds = timeit.timeit(lambda: match(host, path), number=number)  # noqa: B023
            best[n] = min(best[n], seconds / number * 1e9)
    gc.unfreeze()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke)")
    args = parser.parse_args()
    sizes, repeats, number = (
        ((10, 200), 2, 2_000) if args.quick else ((10, 1_000, 10_000), 5, 200_000)
    )
    built = {n: build(n, repeats=repeats) for n in sizes}
    matches = match_ns({n: snapshot for n, (snapshot, _) in built.items()}, number, repeats * 2)
    rows = [{**figures, "match_ns": matches[n]} for n, (_, figures) in built.items()]
    print(
        f"{'ingresses':>10} {'routes':>7} {'match ns':>9} {'ingest s':>9} {'compile s':>10} "
        f"{'endpoint-only s':>16}"
    )
    for r in rows:
        print(
            f"{r['ingresses']:>10,.0f} {r['routes']:>7,.0f} {r['match_ns']:>9.0f} "
            f"{r['ingest_s']:>9.3f} "
            f"{r['compile_s']:>10.3f} {r['endpoint_only_s']:>16.3f}"
        )
    ratio = rows[-1]["match_ns"] / rows[0]["match_ns"]
    print(
        f"match cost ratio {rows[-1]['ingresses']:,.0f} vs {rows[0]['ingresses']:,.0f} "
        f"Ingresses: {ratio:.2f}x"
    )


if __name__ == "__main__":
    main()
