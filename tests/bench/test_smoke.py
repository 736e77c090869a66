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
