"""The benchmarks still run (a seconds-long smoke, not a timed test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_micro_benchmarks_run_quickly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.micro.run", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "match cost ratio" in result.stdout


def test_load_benchmark_runs_against_nginx() -> None:
    """The load harness starts nginx (upstream and proxy) and the gateway and drives them."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.load.run", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| 2B | gateway |" in result.stdout and "x nginx's" in result.stdout


def test_worker_shipping_benchmark_runs() -> None:
    """The shipping benchmark drives a real supervisor side with two worker processes."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.workers.ship", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| 100 | one Service | endpoint sets |" in result.stdout
