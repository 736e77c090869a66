"""Every Prometheus collector the gateway exports, declared in one place.

Names keep ingress-nginx's, with our prefix (DESIGN.md). Label values come only from the route
table (namespace, Ingress, Service), a fixed set of methods and the status code, so cardinality
is bounded by the configuration, never by what clients send. Each `Metrics` owns its registry,
so tests can run several gateways in one process.

Per-request metrics do not go through prometheus-client's metric objects: each of their updates
takes a lock and a child lookup, which profiling showed as a tenth of the proxy's time. Instead
the request path increments plain integers in per-label arrays, and a collector turns them into
metric families when Prometheus scrapes (the event loop is single-threaded, so no lock is needed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gateway.proxy.caches import PerTarget

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.mirror import Mirrors
    from gateway.proxy.ratelimit import RateLimiter
    from gateway.proxy.server import ProxyServer
    from gateway.proxy.tunnel import Tunnels
    from gateway.proxy.upstream import UpstreamPool
    from routing.snapshot import Snapshot

_METHOD_LABELS: Final = (
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "CONNECT",
    "TRACE",
    "OTHER",
)
"""The `method` label's values: the standard methods, and OTHER for the rest (bounded)."""
_METHOD_INDEX: Final = {method: index for index, method in enumerate(_METHOD_LABELS[:-1])}
_OTHER_METHOD: Final = len(_METHOD_LABELS) - 1
_METHOD_BITS: Final = 4
"""A request count's key is `status << _METHOD_BITS | method index`: an int hashes and
compares at no cost, where a (method, status) tuple is made, hashed and compared each time."""
_METHOD_MASK: Final = (1 << _METHOD_BITS) - 1
_TIME_BUCKETS: Final[tuple[float, ...]] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
_SIZE_BUCKETS: Final[tuple[float, ...]] = (
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
)
_ROUTE: Final[tuple[str, ...]] = ("namespace", "ingress", "service")


class _PoolCollector(Collector):
    """Upstream connection counts, read from the pool at scrape time (no per-request cost)."""

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        pool = self._pool
        counter = CounterMetricFamily(
            "gateway_upstream_connections",
            "Connections to pods, by what happened to them.",
            labels=["event"],
        )
        idle = GaugeMetricFamily(
            "gateway_upstream_connections_idle", "Idle pod connections kept for reuse."
        )
        counter.add_metric(["opened"], pool.opened)
        counter.add_metric(["reused"], pool.reused)
        counter.add_metric(["failed"], pool.failed)
        idle.add_metric([], pool.idle_count())
        yield counter
        yield idle


class _LimitCollector(Collector):
    """Rate-limit refusals and remembered clients, read from the limiter at scrape time."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        refused = CounterMetricFamily(
            "gateway_rate_limited_requests",
            "Requests refused by a rate or connection limit, by the limit "
            "(rps, rpm, connections, route).",
            labels=["namespace", "ingress", "limit"],
        )
        for key, count in sorted(self._limiter.refused.items()):
            refused.add_metric(list(key), count)
        yield refused
        clients = GaugeMetricFamily(
            "gateway_rate_limit_clients",
            "Client addresses a `limit-rps`/`limit-rpm` zone remembers now.",
            labels=["namespace", "ingress"],
        )
        for ingress, count in sorted(self._limiter.clients().items()):
            clients.add_metric(list(ingress), count)
        yield clients


class _MirrorCollector(Collector):
    """What became of mirrored copies, read at scrape time."""

    def __init__(self, mirrors: Mirrors) -> None:
        self._mirrors = mirrors

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        copies = CounterMetricFamily(
            "gateway_mirror_requests",
            "Copies of requests sent to mirrors, by result: the answer's status class (2xx…), "
            "failed, or dropped (not sent whole).",
            labels=["namespace", "ingress", "result"],
        )
        for key, count in sorted(self._mirrors.results.items()):
            copies.add_metric(list(key), count)
        yield copies
        yield GaugeMetricFamily(
            "gateway_mirror_requests_in_flight",
            "Copies on their way to mirrors now.",
            value=len(self._mirrors.copies),
        )


class _TunnelCollector(Collector):
    """Upgraded connections (WebSocket and others), read at scrape time."""

    def __init__(self, tunnels: Tunnels) -> None:
        self._tunnels = tunnels

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        tunnels = self._tunnels
        opened = CounterMetricFamily(
            "gateway_tunnels",
            "Connections upgraded to a byte tunnel after a pod's 101, by protocol "
            "(websocket or other).",
            labels=[*_ROUTE, "protocol"],
        )
        for key, count in sorted(tunnels.opened.items()):
            opened.add_metric(list(key), count)
        yield opened
        closed = CounterMetricFamily(
            "gateway_tunnels_closed",
            "Tunnels ended, by cause: client, pod (either closed), timeout or shutdown.",
            labels=["cause"],
        )
        for cause, count in sorted(tunnels.closed.items()):
            closed.add_metric([cause], count)
        yield closed
        yield GaugeMetricFamily(
            "gateway_tunnels_active", "Tunnels open now.", value=len(tunnels.open)
        )
        carried = CounterMetricFamily(
            "gateway_tunnel_bytes",
            "Bytes carried through tunnels, by direction (to_client, to_pod).",
            labels=["direction"],
        )
        to_client, to_pod = tunnels.bytes()
        carried.add_metric(["to_client"], to_client)
        carried.add_metric(["to_pod"], to_pod)
        yield carried


class _Buckets:
    """One histogram's counts for one label set: a bucket index per observation."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # A compiled scan from the smallest bound: most values fall in the first buckets, and
        # `bisect` costs a call and a boxed comparison per step.
        index = 0
        for bound in self.bounds:
            if value <= bound:
                break
            index += 1
        self.counts[index] += 1
        self.sum += value


_HISTOGRAMS: Final = (
    (
        "gateway_request_duration_seconds",
        "Time from the request's first byte to the last response byte.",
    ),
    (
        "gateway_upstream_response_seconds",
        "Time from sending a request to a pod to its response head.",
    ),
    ("gateway_request_size_bytes", "Request body bytes."),
    ("gateway_response_size_bytes", "Response body bytes sent."),
)
"""Name and help of each histogram, in the order of `_RouteCounts.histograms` (whose buckets
hold their bounds)."""


class _RouteCounts:
    """Everything counted for one label set (namespace, Ingress, Service)."""

    __slots__ = ("duration", "request_size", "requests", "response_size", "upstream")

    def __init__(self) -> None:
        self.requests: dict[int, int] = {}
        """Requests answered, by `status << _METHOD_BITS | method index` (`_METHOD_LABELS`)."""
        self.duration = _Buckets(_TIME_BUCKETS)
        self.upstream = _Buckets(_TIME_BUCKETS)
        self.request_size = _Buckets(_SIZE_BUCKETS)
        self.response_size = _Buckets(_SIZE_BUCKETS)

    def histograms(self) -> tuple[_Buckets, ...]:
        """In the order of `_HISTOGRAMS`."""
        return (self.duration, self.upstream, self.request_size, self.response_size)


class _RequestCollector(Collector):
    """Per-request counters and histograms, kept as plain numbers and exported on scrape."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str, str], _RouteCounts] = {}
        self.early: dict[int, int] = {}
        """Requests refused before they had a route (a malformed head), by status."""
        self.connections_total = 0
        self.connections_active = 0

    def route(self, labels: tuple[str, str, str]) -> _RouteCounts:
        counts = self.routes.get(labels)
        if counts is None:
            counts = self.routes[labels] = _RouteCounts()
        return counts

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "gateway_requests", "Requests answered.", labels=[*_ROUTE, "method", "status"]
        )
        samples = [(["", "", "", "", str(status)], n) for status, n in self.early.items()]
        for labels, counts in self.routes.items():
            samples += [
                ([*labels, _METHOD_LABELS[key & _METHOD_MASK], str(key >> _METHOD_BITS)], n)
                for key, n in counts.requests.items()
            ]
        for values, count in sorted(samples):
            requests.add_metric(values, count)
        yield requests
        for index, (name, doc) in enumerate(_HISTOGRAMS):
            family = HistogramMetricFamily(name, doc, labels=list(_ROUTE))
            for labels, counts in sorted(self.routes.items()):
                data = counts.histograms()[index]
                edges = [repr(bound) for bound in data.bounds] + ["+Inf"]
                cumulative, running = [], 0
                for edge, count in zip(edges, data.counts, strict=True):
                    running += count
                    cumulative.append((edge, running))
                family.add_metric(list(labels), cumulative, data.sum)
            yield family
        yield CounterMetricFamily(
            "gateway_connections", "Client connections accepted.", value=self.connections_total
        )
        yield GaugeMetricFamily(
            "gateway_connections_active",
            "Client connections open now.",
            value=self.connections_active,
        )


class _SourceCollector(Collector):
    """Whether each watched kind is connected to the API server (read at scrape time)."""

    def __init__(self, connected: Callable[[], Mapping[str, bool]]) -> None:
        self._connected = connected

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "gateway_api_connected",
            "1 while the watch of this kind is connected to the API server.",
            labels=["kind"],
        )
        for kind, up in sorted(self._connected().items()):
            gauge.add_metric([kind], 1 if up else 0)
        yield gauge


class TrafficMetrics:
    """What the proxy of one process counts: requests, client and pod connections, limits,
    mirrors and tunnels. With one process it shares the registry of `Metrics`; a worker keeps
    it in a registry of its own, which the supervisor merges (`gateway.workers.reports`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._requests = _RequestCollector()
        self.registry.register(self._requests)
        self._by_target: PerTarget[_RouteCounts] = PerTarget()

    def watch(self, proxy: ProxyServer) -> None:
        """Export the counters `proxy` keeps itself (read at scrape time)."""
        for collector in (
            _PoolCollector(proxy.pool),
            _LimitCollector(proxy.limiter),
            _MirrorCollector(proxy.mirrors),
            _TunnelCollector(proxy.tunnels),
        ):
            self.registry.register(collector)

    def observe(self, exchange: Exchange) -> None:
        """Record one finished request."""
        counts = self._counts_for(exchange)
        key = exchange.status << _METHOD_BITS | _METHOD_INDEX.get(
            exchange.head.method, _OTHER_METHOD
        )
        requests = counts.requests
        requests[key] = requests.get(key, 0) + 1
        counts.duration.observe(exchange.duration)
        if exchange.upstream_time:
            counts.upstream.observe(exchange.upstream_time)
        counts.request_size.observe(exchange.body.received)
        counts.response_size.observe(exchange.bytes_sent)

    def _counts_for(self, exchange: Exchange) -> _RouteCounts:
        """The counts of the exchange's label set, by the route or backend that answered."""
        target = exchange.target
        counts = self._by_target.get(exchange.snapshot, target)
        if counts is None:
            labels = (target.namespace, target.ingress, target.service) if target else ("", "", "")
            counts = self._by_target.add(target, self._requests.route(labels))
        return counts

    def early_error(self, status: int) -> None:
        """A malformed request answered before it had a route."""
        early = self._requests.early
        early[status] = early.get(status, 0) + 1

    def connection_change(self, delta: int) -> None:
        """A client connection opened (+1) or closed (-1)."""
        self._requests.connections_active += delta
        if delta > 0:
            self._requests.connections_total += 1


class Metrics:
    """The control plane's collectors: reloads, the live snapshot, Events, leadership."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
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
        self.events = Counter(
            "gateway_events", "Kubernetes Events written about problems.", ["reason"], registry=r
        )
        self.leader = Gauge(
            "gateway_leader",
            "1 while this replica holds the leader Lease (writes Ingress status and Events).",
            registry=r,
        )
        self.ssl_expiry = Gauge(
            "gateway_ssl_expire_time_seconds",
            "When each served certificate expires (Unix time), by its Secret and server name "
            "(`*` for the --default-ssl-certificate).",
            ["namespace", "secret_name", "host"],
            registry=r,
        )
        self.reloads.labels("success")
        self.reloads.labels("failure")

    def watch_source(self, connected: Callable[[], Mapping[str, bool]]) -> None:
        """Export the API watches' connection state (cluster mode)."""
        self.registry.register(_SourceCollector(connected))

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
        self.ssl_expiry.clear()
        tls = snapshot.tls
        served = [*tls.hosts.items(), *([("*", tls.default)] if tls.default else [])]
        for host, cert in served:
            self.ssl_expiry.labels(cert.namespace, cert.name, host).set(cert.pair.not_after)
        for severity in ("error", "warning"):
            self.problems.labels(severity).set(
                sum(1 for p in snapshot.problems if p.severity == severity)
            )

    def event_sent(self, reason: str) -> None:
        """A Kubernetes Event was written."""
        self.events.labels(reason).inc()

    def reload_failed(self) -> None:
        """A compile failed; the previous snapshot stays live."""
        self.reloads.labels("failure").inc()
        self.last_reload_ok.set(0)


class WorkerMetrics:
    """The supervisor's view of its workers (`--workers` above 1)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.serving = Gauge(
            "gateway_workers", "Worker processes accepting connections now.", registry=registry
        )
        self.restarts = Counter(
            "gateway_worker_restarts",
            "Workers started again after one exited, by why it exited: crashed (without "
            "draining) or drained (it got a SIGTERM of its own).",
            ["reason"],
            registry=registry,
        )
        self.propagation = Histogram(
            "gateway_snapshot_propagation_seconds",
            "Time from a snapshot's swap in the supervisor until every worker serves it, by "
            "what was shipped: full or endpoints (only the changed endpoint sets).",
            ["shipped"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.shipped_bytes = Counter(
            "gateway_snapshot_shipped_bytes",
            "Bytes of snapshots and endpoint updates sent to workers.",
            registry=registry,
        )
        for reason in ("crashed", "drained"):
            self.restarts.labels(reason)
