"""The parts of `--workers` that need no processes: CPU counting, merged metrics, whole-line
log writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from gateway.accesslog import ATOMIC_WRITE, _pieces
from gateway.settings import available_cpus, workers
from gateway.workers.reports import MergedTraffic, families


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"cpu.max": "150000 100000\n"}, 2, id="v2-quota-rounds-up"),
        pytest.param({"cpu.max": "50000 100000\n"}, 1, id="v2-under-one-cpu"),
        pytest.param({"cpu.max": "max 100000\n"}, None, id="v2-no-quota"),
        pytest.param(
            {"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"},
            1,
            id="v1-quota",
        ),
        pytest.param(
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
            None,
            id="v1-no-quota",
        ),
        pytest.param({}, None, id="no-cgroup"),
    ],
)
def test_available_cpus_honours_the_cgroup_quota(
    tmp_path: Path, files: dict[str, str], expected: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path) == (min(affinity, expected) if expected else affinity)


def test_workers_auto_is_the_available_cpus() -> None:
    assert workers("auto") == available_cpus()
    assert workers("3") == 3


def _worker(requests: float, open_now: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("demo_requests", "Requests.", ["code"], registry=registry).labels("200").inc(requests)
    Gauge("demo_open", "Open now.", registry=registry).set(open_now)
    return registry


def test_merged_counters_add_up_and_survive_an_exited_worker() -> None:
    live = {"a": families(_worker(3, 1)), "b": families(_worker(4, 2))}
    merged = MergedTraffic(live.values)
    registry = CollectorRegistry()
    registry.register(merged)
    assert registry.get_sample_value("demo_requests_total", {"code": "200"}) == 7
    assert registry.get_sample_value("demo_open") == 3
    merged.retire(live.pop("a"))  # worker a exits; its replacement starts from zero
    live["c"] = families(_worker(0, 0))
    assert registry.get_sample_value("demo_requests_total", {"code": "200"}) == 7
    assert registry.get_sample_value("demo_open") == 2  # gauges count live workers only
    assert b"demo_requests_total" in generate_latest(registry)


def test_a_shared_log_is_written_in_whole_lines_of_at_most_pipe_buf() -> None:
    lines = [b"x" * 1000 + b"\n"] * 9 + [b"y" * (ATOMIC_WRITE + 10) + b"\n", b"z\n"]
    pieces = _pieces(lines)
    assert b"".join(pieces) == b"".join(lines)
    for piece in pieces:
        assert piece.endswith(b"\n")
        assert len(piece) <= ATOMIC_WRITE or piece.count(b"\n") == 1
