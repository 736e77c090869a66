"""Metrics of many workers as one: each worker reports its traffic registry, the supervisor
adds the reports up when Prometheus scrapes.

prometheus-client's multiprocess mode would write every increment to a memory-mapped file under
a lock; the per-request counters here are plain integers (`gateway.metrics`), which profiling
chose, so workers instead send their families: every second unasked, and on demand before a
scrape. Counters and histograms of a worker that has exited are kept in the sums, so that a
replaced worker never makes a total go down; gauges (connections open now…) count only the
workers alive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from gateway.workers.messages import Family

_CUMULATIVE = frozenset({"counter", "histogram"})
"""Kinds whose values only grow: a retired worker's last values stay in the sums."""


def families(registry: CollectorRegistry) -> tuple[Family, ...]:
    """Everything `registry` exports now, as plain tuples for the channel."""
    return tuple(
        (
            metric.name,
            metric.type,
            metric.documentation,
            tuple((s.name, tuple(s.labels.items()), s.value) for s in metric.samples),
        )
        for metric in registry.collect()
    )


def add_up(reports: Iterable[Iterable[Family]]) -> tuple[Family, ...]:
    """The reports' families summed sample by sample (same name and labels), in the order
    first seen, which keeps each histogram's buckets together and in order."""
    kinds: dict[str, tuple[str, str]] = {}
    sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for report in reports:
        for name, kind, documentation, samples in report:
            kinds.setdefault(name, (kind, documentation))
            values = sums.setdefault(name, {})
            for sample, labels, value in samples:
                key = (sample, labels)
                values[key] = values.get(key, 0.0) + value
    return tuple(
        (name, kind, documentation, tuple((s, labels, v) for (s, labels), v in sums[name].items()))
        for name, (kind, documentation) in kinds.items()
    )


class MergedTraffic(Collector):
    """The workers' traffic metrics, summed, for the supervisor's registry."""

    def __init__(self, live: Callable[[], Iterable[tuple[Family, ...]]]) -> None:
        self._live = live
        self._retired: tuple[Family, ...] = ()

    def retire(self, report: tuple[Family, ...]) -> None:
        """A worker has exited: keep its last counters and histograms for ever."""
        kept = tuple(family for family in report if family[1] in _CUMULATIVE)
        self._retired = add_up((self._retired, kept))

    def collect(self) -> Iterator[Metric]:
        for name, kind, documentation, samples in add_up((self._retired, *self._live())):
            metric = Metric(name, documentation, kind)
            for sample, labels, value in samples:
                metric.add_sample(sample, dict(labels), value)
            yield metric
