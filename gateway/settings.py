"""Process settings of `gateway run`: validated once from flags and environment, then frozen."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from routing.classes import ClassSettings


def host_port(raw: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (all addresses)."""
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def namespaced_name(raw: str) -> tuple[str, str]:
    """`NAMESPACE/NAME`."""
    namespace, sep, name = raw.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{raw!r} is not NAMESPACE/NAME")
    return namespace, name


def positive_seconds(raw: str) -> float:
    """A duration in seconds, zero or more."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is negative")
    return value


def lease_seconds(raw: str) -> float:
    """A lease duration: whole seconds, at least 2 (renewals happen every quarter of it)."""
    if not raw.isdigit() or int(raw) < 2:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a lease duration (whole seconds, 2+)")
    return float(raw)


def workers(raw: str) -> int:
    """A worker count, at least 1, or `auto`: the CPUs this process may use."""
    if raw == "auto":
        return available_cpus()
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of workers (1 or more, or auto)")
    return int(raw)


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may run on, capped by the container's CPU quota (cgroup v2
    `cpu.max`, or v1 `cpu.cfs_quota_us`), rounded up: a pod limited to 1.5 CPUs gets 2."""
    cpus = len(os.sched_getaffinity(0))
    quota = _cgroup_quota(cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota(cgroup: Path) -> float | None:
    """CPUs the cgroup quota allows, or None without a quota."""
    try:
        limit, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        limit = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
        period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        return None if int(limit) <= 0 else int(limit) / int(period)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Everything `gateway run` was told."""

    manifests: str | None = None
    kubeconfig: str | None = None
    listen: tuple[str, int] = ("0.0.0.0", 8080)
    listen_tls: tuple[str, int] = ("0.0.0.0", 8443)
    admin: tuple[str, int] = ("0.0.0.0", 10254)
    classes: ClassSettings = field(default_factory=ClassSettings)
    configmap: tuple[str, str] | None = None
    default_ssl_certificate: tuple[str, str] | None = None
    watch_namespace: str = ""
    workers: int = 1
    publish_service: tuple[str, str] | None = None
    publish_status_address: str = ""
    own_namespace: str = "ingress-gateway"
    """The gateway's namespace (`POD_NAMESPACE`): default home of the Lease and of the
    IngressClass parameters ConfigMap."""
    election: tuple[str, str] = ("ingress-gateway", "ingress-gateway-leader")
    """Namespace and name of the leader-election Lease."""
    election_ttl: float = 30.0
    shutdown_delay: float = 5.0
    """Seconds to keep serving after SIGTERM, with readiness failing, so that load balancers
    and kube-proxy stop sending new connections before the listener closes."""
    shutdown_timeout: float = 240.0
    """Seconds to let in-flight requests finish after the listener closed (ingress-nginx's
    worker-shutdown-timeout)."""
    log_level: str = "info"
