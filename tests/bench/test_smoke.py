"""The benchmarks still run (a seconds-long smoke, not a timed test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick(module: str, timeout: float, *arguments: str) -> str:
    """Run `python -m module --quick` from the repository; its output (it must exit 0)."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--quick", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_micro_benchmarks_run_quickly() -> None:
    assert "match cost ratio" in _quick("bench.micro.run", 120)


def test_load_benchmark_runs_against_nginx() -> None:
    """The load harness starts nginx (upstream and proxy) and the gateway and drives them."""
    output = _quick("bench.load.run", 300)
    assert "| 2B | gateway |" in output and "x nginx's" in output
    assert "| 2B | floor |" in output and "the stack's floor" in output
    assert "| 2B | gateway-2w |" in output and "gateway-2w vs gateway" in output
    assert "| 2B | nginx-2w |" in output and "nginx-2w vs nginx" in output
    assert "| 2B | gateway-2w-2c |" in output and "gateway-2w-2c vs gateway" in output


def test_ab_benchmark_runs_two_checkouts_side_by_side() -> None:
    """The A/B harness runs a second gateway from another checkout (here the same one) beside
    this one and nginx, and reports the ratio per round."""
    output = _quick("bench.load.ab", 300, str(ROOT))
    rows = re.findall(r"^\| (2B|1KiB) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", output, re.M)
    assert [row[0] for row in rows] == ["2B", "1KiB"], output
    assert all(float(value) > 0 for row in rows for value in row[1:]), output


def test_worker_shipping_benchmark_runs() -> None:
    """The shipping benchmark drives a real supervisor side with two worker processes."""
    assert "| 100 | one Service | endpoint sets |" in _quick("bench.workers.ship", 120)


def test_instruction_count_runs() -> None:
    """The callgrind probe serves real requests under valgrind and reports a plausible count
    (a proxied request is tens of thousands of instructions, not hundreds or millions)."""
    output = _quick("bench.instructions", 900)
    found = re.search(r"([\d,]+) instructions per request", output)
    assert found is not None, output
    assert 20_000 < int(found.group(1).replace(",", "")) < 2_000_000, output
