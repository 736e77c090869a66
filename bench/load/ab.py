"""A/B: this checkout's gateway against another's, with nginx as the control, in one run.

    python -m bench.load.ab ../other               # 5 interleaved rounds of 8 s per body
    python -m bench.load.ab ../other --quick       # 1 round of 2 s: a smoke run

A change to the hot path is worth a few percent of CPU per request, and this machine's CPU time
moves by more than that between runs (bench/RESULTS.md), so two figures from two runs of
`bench.load.run` cannot tell such a change from the noise. Here the two gateways run side by
side, measured in turns within each round (as `bench.load.run` measures, CPU 0 for the proxy,
CPU 1 for wrk and the upstream), and what is reported is the ratio within each round, whose
spread shows whether the difference is real. Both run with the same memory layout and string
hashing (`start_gateway`'s `fixed_layout`): without it, two processes of the same code differ
by 2-4% of CPU per request, which is the size of the changes an A/B is for. nginx is measured
in the same rounds so that the result can be read against the issue's target too.

The other checkout is typically a git worktree of the commit before (`git worktree add
/tmp/base HEAD~1`), compiled with this checkout's interpreter (`scripts/compile` run there); it
runs with its own source first on the import path.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.load.run import (
    BODIES,
    ROOT,
    free_port,
    run_wrk,
    start_gateway,
    start_nginx_proxy,
    start_upstream,
    stop,
    wait_port,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (B)")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s (smoke)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    rounds, seconds = (1, 2) if args.quick else (args.rounds, args.seconds)
    other = args.other.resolve()
    folder = Path(tempfile.mkdtemp(prefix="gateway-ab-"))
    ports = {name: free_port() for name in ("upstream", "nginx", "a", "a-admin", "b", "b-admin")}
    procs = [start_upstream(folder, ports["upstream"])]
    try:
        procs.append(start_nginx_proxy(folder, ports["nginx"], ports["upstream"]))
        for name, tree in (("a", ROOT), ("b", other)):
            procs.append(
                start_gateway(
                    folder, ports[name], ports[f"{name}-admin"], ports["upstream"],
                    tree=tree, fixed_layout=True,
                )
            )  # fmt: skip
        targets = {"nginx": procs[1], "a": procs[2], "b": procs[3]}
        for name in targets:
            wait_port(ports[name])
            run_wrk(ports[name], "/2B", 1, args.connections, None)  # warm up
        cpu: dict[tuple[str, str], list[float]] = {}
        for round_number in range(rounds):
            # Alternate who goes first, so that neither always follows the same neighbour.
            order = ["nginx", "a", "b"] if round_number % 2 == 0 else ["nginx", "b", "a"]
            for body in BODIES:
                for name in order:
                    sample = run_wrk(
                        ports[name], f"/{body}", seconds, args.connections, targets[name].pid
                    )
                    cpu.setdefault((name, body), []).append(sample.cpu_us)
        report(cpu, ROOT, other, rounds, seconds)
    finally:
        stop(procs, folder)


def report(
    cpu: dict[tuple[str, str], list[float]], this: Path, other: Path, rounds: int, seconds: int
) -> None:
    print(f"A = {this}, B = {other}: {rounds} interleaved round(s) of {seconds} s")
    print("| body | A µs/req | B µs/req | nginx µs/req | A/B per round | A/B | A/nginx | B/nginx |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for body in BODIES:
        a, b, nginx = (cpu[(name, body)] for name in ("a", "b", "nginx"))
        per_round = [x / y for x, y in zip(a, b, strict=True)]
        med_a, med_b, med_nginx = (statistics.median(v) for v in (a, b, nginx))
        print(
            f"| {body} | {med_a:.2f} | {med_b:.2f} | {med_nginx:.2f} | "
            f"{' '.join(f'{r:.3f}' for r in per_round)} | {statistics.median(per_round):.3f} | "
            f"{med_a / med_nginx:.2f} | {med_b / med_nginx:.2f} |"
        )


if __name__ == "__main__":
    main()
