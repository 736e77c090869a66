"""Objects from the API server into the store: convert each one, then mark the store dirty."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gateway.control.status import Addresses, status_addresses
from gateway.control.store import ObjectKey, Store
from routing.convert import CLUSTER_SCOPED, convert


def object_key(kind: str, obj: Mapping[str, Any]) -> ObjectKey:
    """(kind, namespace, name) of a raw object."""
    raw_meta = obj.get("metadata")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    namespace = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or "")
    return (kind, namespace, str(meta.get("name") or ""))


class StoreSink:
    """The watch loop's sink: raw objects of every kind, converted into one store."""

    def __init__(self, store: Store, changed: asyncio.Event) -> None:
        self.store = store
        self.changed = changed
        self.statuses: dict[ObjectKey, Addresses] = {}
        """Every Ingress's `status.loadBalancer.ingress`, as the status writer compares it."""

    def replace(self, kind: str, objects: list[Mapping[str, Any]]) -> None:
        """A fresh list of `kind`."""
        items = []
        if kind == "Ingress":
            self.statuses.clear()  # the status writer holds this dict: refill, never rebind
            self.statuses.update(
                (object_key(kind, o), status_addresses(o.get("status"))) for o in objects
            )
        for obj in objects:
            converted = convert({**obj, "kind": kind})
            items.append((object_key(kind, obj), converted.view, converted.problems))
        if self.store.replace_kind(kind, items):
            self.changed.set()

    def apply(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        """One watch event."""
        key = object_key(kind, obj)
        if kind == "Ingress":
            if event_type == "DELETED":
                self.statuses.pop(key, None)
            else:
                self.statuses[key] = status_addresses(obj.get("status"))
        if event_type == "DELETED":
            changed = self.store.delete(key)
        else:
            converted = convert({**obj, "kind": kind})
            changed = self.store.apply(key, converted.view, converted.problems)
        if changed:
            self.changed.set()
