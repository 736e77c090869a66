"""Every Prometheus collector the gateway exports, declared in one place.

Names keep ingress-nginx's, with our prefix (DESIGN.md). Label values come only from the route
table (namespace, Ingress, Service), a fixed set of methods and the status code, so cardinality
is bounded by the configuration, never by what clients send. Each `Metrics` owns its registry,
so tests can run several gateways in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.upstream import UpstreamPool
    from routing.model import Snapshot

_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)
_TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)
_ROUTE = ("namespace", "ingress", "service")


class _PoolCollector(Collector):
    """Upstream connection counts, read from the pool at scrape time (no per-request cost)."""

    def __init__(self, pool: Callable[[], UpstreamPool | None]) -> None:
        self._pool = pool

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        pool = self._pool()
        counter = CounterMetricFamily(
            "gateway_upstream_connections",
            "Connections to pods, by what happened to them.",
            labels=["event"],
        )
        idle = GaugeMetricFamily(
            "gateway_upstream_connections_idle", "Idle pod connections kept for reuse."
        )
        if pool is not None:
            counter.add_metric(["opened"], pool.opened)
            counter.add_metric(["reused"], pool.reused)
            counter.add_metric(["failed"], pool.failed)
            idle.add_metric([], pool.idle_count())
        yield counter
        yield idle


class Metrics:
    """The collectors, and fast paths to update them per request."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gateway_requests", "Requests answered.", [*_ROUTE, "method", "status"], registry=r
        )
        self.request_duration = Histogram(
            "gateway_request_duration_seconds",
            "Time from a complete request head to the last response byte.",
            _ROUTE,
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.upstream_response = Histogram(
            "gateway_upstream_response_seconds",
            "Time from sending a request to a pod to its response head.",
            _ROUTE,
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.request_size = Histogram(
            "gateway_request_size_bytes",
            "Request body bytes.",
            _ROUTE,
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.response_size = Histogram(
            "gateway_response_size_bytes",
            "Response body bytes sent.",
            _ROUTE,
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.connections_active = Gauge(
            "gateway_connections_active", "Client connections open now.", registry=r
        )
        self.connections = Counter(
            "gateway_connections", "Client connections accepted.", registry=r
        )
        self.reloads = Counter(
            "gateway_config_reloads", "Snapshot compiles, by result.", ["result"], registry=r
        )
        self.last_reload_ok = Gauge(
            "gateway_config_last_reload_successful",
            "1 when the last compile succeeded.",
            registry=r,
        )
        self.config_hash = Gauge(
            "gateway_config_hash", "Digest of the live snapshot (first 52 bits).", registry=r
        )
        self.last_reload_time = Gauge(
            "gateway_config_last_reload_success_timestamp_seconds",
            "Unix time of the last swap.",
            registry=r,
        )
        self.snapshot_build = Histogram(
            "gateway_snapshot_build_seconds",
            "Time to compile a snapshot.",
            registry=r,
            buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.endpoints = Gauge(
            "gateway_backend_endpoints", "Ready endpoints per backend.", ["backend"], registry=r
        )
        self.problems = Gauge(
            "gateway_config_problems", "Problems in the live snapshot.", ["severity"], registry=r
        )
        self._pool: UpstreamPool | None = None
        r.register(_PoolCollector(lambda: self._pool))
        self._request_children: dict[tuple[str, ...], Counter] = {}
        self._route_children: dict[tuple[str, str, str], tuple[Histogram, ...]] = {}
        self.reloads.labels("success")
        self.reloads.labels("failure")

    def watch_pool(self, pool: UpstreamPool) -> None:
        """Export `pool`'s counters."""
        self._pool = pool

    def observe(self, exchange: Exchange) -> None:
        """Record one finished request."""
        route = exchange.route
        labels = (route.namespace, route.ingress, route.service) if route else ("", "", "")
        method = exchange.head.method if exchange.head.method in _METHODS else "OTHER"
        key = (*labels, method, str(exchange.status))
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(*key)
        counter.inc()
        children = self._route_children.get(labels)
        if children is None:
            children = self._route_children[labels] = (
                self.request_duration.labels(*labels),
                self.upstream_response.labels(*labels),
                self.request_size.labels(*labels),
                self.response_size.labels(*labels),
            )
        duration, upstream, request_size, response_size = children
        duration.observe(exchange.loop.time() - exchange.started)
        if exchange.upstream_time:
            upstream.observe(exchange.upstream_time)
        request_size.observe(exchange.body_received)
        response_size.observe(exchange.bytes_sent)

    def early_error(self, status: int) -> None:
        """A malformed request answered before it had a route."""
        self.requests.labels("", "", "", "", str(status)).inc()

    def connection_change(self, delta: int) -> None:
        """A client connection opened (+1) or closed (-1)."""
        self.connections_active.inc(delta)
        if delta > 0:
            self.connections.inc()

    def swapped(self, snapshot: Snapshot, build_seconds: float, when: float) -> None:
        """A snapshot went live."""
        self.reloads.labels("success").inc()
        self.last_reload_ok.set(1)
        self.config_hash.set(int(snapshot.digest[:13], 16))
        self.last_reload_time.set(when)
        self.snapshot_build.observe(build_seconds)
        self.endpoints.clear()
        for key, endpoints in snapshot.endpoints.items():
            self.endpoints.labels(key).set(len(endpoints))
        for severity in ("error", "warning"):
            self.problems.labels(severity).set(
                sum(1 for p in snapshot.problems if p.severity == severity)
            )

    def reload_failed(self) -> None:
        """A compile failed; the previous snapshot stays live."""
        self.reloads.labels("failure").inc()
        self.last_reload_ok.set(0)
