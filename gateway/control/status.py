"""Ingress status: `.status.loadBalancer.ingress` of the Ingresses we serve (issue #4 §5).

What is written, as ingress-nginx does:

* the addresses come from `--publish-status-address` (comma-separated; an IP becomes `ip`,
  anything else `hostname`), else from the `--publish-service` Service: its load balancer's
  addresses and `externalIPs` for type LoadBalancer, its `externalIPs` or cluster IP otherwise,
  its `externalName` for type ExternalName;
* every Ingress of our class (`RouteTable.ingresses`) gets those addresses;
* an Ingress that stops being ours is cleared, but only when its status still holds exactly our
  addresses, so the status another controller wrote is never touched.

Only the leader writes (`gateway.control.leader`). A sync runs when a snapshot is swapped, when
this replica becomes leader, and every `RESYNC` seconds (the publish Service's addresses can
change without any Ingress changing). The current status of each Ingress comes from the watch
(`StoreSink.statuses`), so an Ingress already right costs no request. A write reads the Ingress
and replaces its status with the `resourceVersion` read; a conflict is retried at the next sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from kubernetes_asyncio import client

from gateway.control.kube import ApiClient, call_json

logger = logging.getLogger(__name__)

Address = tuple[str, str]
"""(ip, hostname), one of them empty: one entry of `status.loadBalancer.ingress`."""
Addresses = tuple[Address, ...]

RESYNC = 60.0
"""Seconds between syncs when nothing else triggers one."""
CONCURRENT_WRITES = 8


def parse_addresses(raw: Iterable[str]) -> Addresses:
    """Addresses in ingress-nginx's order (by IP, then hostname), without duplicates."""
    found: set[Address] = set()
    for item in (i.strip() for i in raw):
        if not item:
            continue
        try:
            found.add((str(ipaddress.ip_address(item)), ""))
        except ValueError:
            found.add(("", item))
    return tuple(sorted(found))


def status_addresses(status: object) -> Addresses:
    """The addresses an object's `status.loadBalancer.ingress` holds (Ingress or Service)."""
    entries = (
        (status.get("loadBalancer") or {}).get("ingress") if isinstance(status, Mapping) else None
    )
    if not isinstance(entries, list):
        return ()
    pairs = {
        (str(e.get("ip") or ""), str(e.get("hostname") or ""))
        for e in entries
        if isinstance(e, Mapping)
    }
    return tuple(sorted(p for p in pairs if any(p)))


def service_addresses(service: Mapping[str, Any]) -> Addresses:
    """Where a Service in front of the gateway is reached, by its type (ingress-nginx's rules)."""
    spec = service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    if kind == "ExternalName":
        return parse_addresses([str(spec.get("externalName") or "")])
    if kind == "LoadBalancer":
        return tuple(sorted({*status_addresses(service.get("status")), *parse_addresses(external)}))
    if external:
        return parse_addresses(external)
    cluster_ip = str(spec.get("clusterIP") or "")
    return parse_addresses([cluster_ip] if cluster_ip != "None" else [])


def _status_body(addresses: Addresses) -> dict[str, Any]:
    entries = [{"ip": ip} if ip else {"hostname": host} for ip, host in addresses]
    return {"loadBalancer": {"ingress": entries} if entries else {}}


class StatusWriter:
    """Keeps the status of every Ingress in line with whether we serve it."""

    def __init__(
        self,
        api: ApiClient,
        statuses: Mapping[tuple[str, str, str], Addresses],
        *,
        publish_service: tuple[str, str] | None,
        publish_addresses: Addresses,
        leading: Callable[[], bool],
        resync: float = RESYNC,
    ) -> None:
        self._core = client.CoreV1Api(api)
        self._networking = client.NetworkingV1Api(api)
        self._statuses = statuses
        self._publish_service = publish_service
        self._publish_addresses = publish_addresses
        self._leading = leading
        self._resync = resync
        self._served: frozenset[tuple[str, str]] | None = None
        self._ours: Addresses = ()
        self.wake = asyncio.Event()
        self.writes = 0
        """Status updates that succeeded (for the logs and tests)."""

    def served(self, ingresses: frozenset[tuple[str, str]]) -> None:
        """The Ingresses of the snapshot just swapped in."""
        self._served = ingresses
        self.wake.set()

    async def run(self) -> None:
        """Sync on every wake-up and every `resync` seconds, while leading."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._resync)
            self.wake.clear()
            if self._leading() and self._served is not None:
                try:
                    await self.sync(self._served)
                except Exception as err:
                    logger.warning("Ingress status sync failed: %s", err)

    async def sync(self, served: frozenset[tuple[str, str]]) -> None:
        """Write every status that differs from what it should be."""
        addresses = await self._addresses()
        previous, self._ours = self._ours, addresses
        mine = {addresses, previous} - {()}
        writes: list[tuple[str, str, Addresses]] = []
        for (_, namespace, name), current in list(self._statuses.items()):
            if (namespace, name) in served:
                if current != addresses:
                    writes.append((namespace, name, addresses))
            elif current in mine:
                writes.append((namespace, name, ()))
        if not writes:
            return
        limit = asyncio.Semaphore(CONCURRENT_WRITES)

        async def write(namespace: str, name: str, wanted: Addresses) -> None:
            async with limit:
                await self._write(namespace, name, wanted)

        async with asyncio.TaskGroup() as group:
            for namespace, name, wanted in writes:
                group.create_task(write(namespace, name, wanted))

    async def _addresses(self) -> Addresses:
        if self._publish_addresses or self._publish_service is None:
            return self._publish_addresses
        namespace, name = self._publish_service
        status, service = await call_json(self._core.read_namespaced_service, name, namespace)
        if status != 200:
            raise RuntimeError(
                f"--publish-service {namespace}/{name}: HTTP {status}: {service.get('message', '')}"
            )
        return service_addresses(service)

    async def _write(self, namespace: str, name: str, wanted: Addresses) -> None:
        where = f"Ingress {namespace}/{name}"
        status, ingress = await call_json(self._networking.read_namespaced_ingress, name, namespace)
        if status == 404:
            return
        if status != 200:
            logger.warning("%s: reading for a status update: HTTP %d", where, status)
            return
        if status_addresses(ingress.get("status")) == wanted:
            return
        ingress["status"] = _status_body(wanted)
        status, reply = await call_json(
            self._networking.replace_namespaced_ingress_status, name, namespace, cast(Any, ingress)
        )
        if status == 409:
            self.wake.set()  # changed since we read it: try again at once
        elif not 200 <= status <= 299:
            logger.warning(
                "%s: status update: HTTP %d: %s", where, status, reply.get("message", "")
            )
        else:
            self.writes += 1
            logger.info(
                "%s: status set to %s",
                where,
                ", ".join(ip or host for ip, host in wanted) or "(none)",
            )
