"""Leader election on a coordination.k8s.io/v1 Lease, so that only one replica writes.

Theory of operation (the protocol of client-go's leaderelection, which ingress-nginx uses)
-----------------------------------------------------------------------------------------
Every replica reads the Lease each `retry` seconds.

* No Lease, or a Lease with no holder (released): take it (create, or update it).
* We hold it: renew it (update `renewTime`).
* Another replica holds it: it is alive as long as its record keeps changing. We note *our own*
  clock when we last saw the record change and take the Lease only when it has not changed for
  `leaseDurationSeconds`. Comparing the holder's `renewTime` with our clock would make
  leadership depend on the two machines' clocks agreeing; observing change does not.

Every write carries the `resourceVersion` that was read, so when two replicas try to take an
expired Lease at once the API server accepts one update and answers 409 to the other.

A leader that cannot renew for `renew_deadline` (< the lease duration) stops leading before any
other replica can take over, so two leaders never overlap. On shutdown the leader releases the
Lease (empty holder), and another replica takes it at its next read instead of a lease duration
later.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes_asyncio import client

from gateway.control.kube import ApiClient, call_json

logger = logging.getLogger(__name__)


def _micro_time() -> str:
    """Now as a Kubernetes MicroTime."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Holds or watches one Lease; `leading` says whether this replica may write."""

    def __init__(
        self,
        api: ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float,
        on_change: Callable[[bool], None] = lambda leading: None,
    ) -> None:
        self._leases = client.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = max(1, round(lease_seconds))
        self.renew_deadline = self.lease_seconds / 2
        self.retry = self.lease_seconds / 4
        self._on_change = on_change
        self.leading = False
        self._renewed_at = 0.0
        self._observed: tuple[object, ...] | None = None
        self._observed_at = 0.0

    async def run(self) -> None:
        """Take part in the election until cancelled; release the Lease when leading."""
        try:
            while True:
                await self.try_once()
                await asyncio.sleep(self.retry * random.uniform(0.9, 1.1))
        finally:
            if self.leading:
                await asyncio.shield(self._release())

    async def try_once(self) -> None:
        """One read and, when it is our turn, one write."""
        now = time.monotonic()
        try:
            await self._acquire_or_renew(now)
        except Exception as err:
            logger.warning("lease %s/%s: %s", self.namespace, self.name, err)
        if self.leading and time.monotonic() - self._renewed_at > self.renew_deadline:
            logger.warning("lease %s/%s not renewed in time", self.namespace, self.name)
            self._set_leading(False)

    async def _acquire_or_renew(self, now: float) -> None:
        status, lease = await call_json(
            self._leases.read_namespaced_lease, self.name, self.namespace
        )
        if status == 404:
            status, reply = await call_json(
                self._leases.create_namespaced_lease,
                self.namespace,
                cast(Any, self._lease_body({}, None)),
            )
            self._after_write(status, reply, now)
            return
        if status != 200:
            raise RuntimeError(f"reading: HTTP {status}: {lease.get('message', '')}")
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, now
        duration = spec.get("leaseDurationSeconds") or self.lease_seconds
        if holder and holder != self.identity and now < self._observed_at + duration:
            self._set_leading(False)
            return
        status, reply = await call_json(
            self._leases.replace_namespaced_lease,
            self.name,
            self.namespace,
            cast(Any, self._lease_body(spec, lease["metadata"]["resourceVersion"])),
        )
        self._after_write(status, reply, now)

    def _lease_body(self, spec: dict[str, Any], resource_version: str | None) -> dict[str, Any]:
        """Our claim on the Lease, keeping `acquireTime` while we already hold it."""
        now = _micro_time()
        ours = spec.get("holderIdentity") == self.identity
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": spec.get("acquireTime") if ours else now,
                "renewTime": now,
                "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (0 if ours else 1),
            },
        }

    def _after_write(self, status: int, reply: dict[str, Any], started: float) -> None:
        if status == 409:  # another replica wrote first
            self._set_leading(False)
            return
        if not 200 <= status <= 299:
            raise RuntimeError(f"writing: HTTP {status}: {reply.get('message', '')}")
        self._renewed_at = started
        self._set_leading(True)

    async def _release(self) -> None:
        """Give the Lease up (empty holder), so that another replica takes it at once."""
        try:
            status, lease = await call_json(
                self._leases.read_namespaced_lease, self.name, self.namespace
            )
            spec = lease.get("spec") or {}
            if status != 200 or spec.get("holderIdentity") != self.identity:
                return
            body = self._lease_body(spec, lease["metadata"]["resourceVersion"])
            body["spec"].update(holderIdentity="", leaseDurationSeconds=1)
            await call_json(
                self._leases.replace_namespaced_lease, self.name, self.namespace, cast(Any, body)
            )
            logger.info("lease %s/%s released", self.namespace, self.name)
        except Exception as err:
            logger.warning("lease %s/%s not released: %s", self.namespace, self.name, err)
        finally:
            self._set_leading(False)

    def _set_leading(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            logger.info(
                "%s leader (lease %s/%s, identity %s)",
                "became" if leading else "no longer",
                self.namespace,
                self.name,
                self.identity,
            )
            self._on_change(leading)
