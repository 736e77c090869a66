"""Objects from the API server into the store: convert each one, then mark the store dirty.

Secrets and ConfigMaps are kept only when something references them (`routing.references`):
the global-settings ConfigMap and what Ingresses name. Every other one is dropped as it
arrives, so a cluster's thousands of Secrets never sit in the gateway's memory. When an
Ingress starts referencing an object that was dropped earlier, `fetch` reads it once from the
API server; from then on its watch events are kept. When nothing references it any more, it
is forgotten.

The references of an Ingress are those of its latest version and of its accepted version, so
a refused new version never takes away a Secret that the serving version still needs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from gateway.control.status import Addresses, status_addresses
from gateway.control.store import ObjectKey, Store
from routing.compile import CompileSettings
from routing.convert import CLUSTER_SCOPED, convert
from routing.references import ingress_references
from routing.sources import Ingress, IngressClass

REFERENCED_KINDS = frozenset({"Secret", "ConfigMap"})


def object_key(kind: str, obj: Mapping[str, Any]) -> ObjectKey:
    """(kind, namespace, name) of a raw object."""
    raw_meta = obj.get("metadata")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    namespace = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or "")
    return (kind, namespace, str(meta.get("name") or ""))


class References:
    """Counts how many Ingresses reference each Secret/ConfigMap; the global-settings ConfigMap
    and the default certificate are always wanted."""

    def __init__(self, settings: CompileSettings) -> None:
        self._settings = settings
        self._by_ingress: dict[ObjectKey, frozenset[ObjectKey]] = {}
        self._counts: Counter[ObjectKey] = Counter()
        self._classes: dict[ObjectKey, IngressClass] = {}
        self._globals = self._global_keys()

    def __contains__(self, key: ObjectKey) -> bool:
        return self._counts[key] > 0 or key in self._globals

    def wanted(self) -> set[ObjectKey]:
        """Every referenced key."""
        keys = {k for k, n in self._counts.items() if n > 0}
        return keys | self._globals

    def tracked(self, kind: str) -> set[ObjectKey]:
        """The Ingresses or IngressClasses currently counted."""
        return set(self._by_ingress if kind == "Ingress" else self._classes)

    def set_ingress(self, key: ObjectKey, refs: frozenset[ObjectKey]) -> None:
        """The references of one Ingress (empty when it is gone)."""
        self._counts.subtract(self._by_ingress.pop(key, frozenset()))
        if refs:
            self._by_ingress[key] = refs
            self._counts.update(refs)

    def set_class(self, key: ObjectKey, view: IngressClass | None) -> None:
        """An IngressClass changed (its parameters may name the global ConfigMap)."""
        if view is None:
            self._classes.pop(key, None)
        else:
            self._classes[key] = view
        self._globals = self._global_keys()

    def _global_keys(self) -> frozenset[ObjectKey]:
        """The global-settings ConfigMap and the default certificate's Secret."""
        keys: set[ObjectKey] = set()
        source = self._settings.global_configmap(self._classes.values())
        if source is not None:
            keys.add(("ConfigMap", *source))
        if self._settings.default_certificate is not None:
            keys.add(("Secret", *self._settings.default_certificate))
        return frozenset(keys)


class StoreSink:
    """The watch loop's sink: raw objects of every kind, converted into one store."""

    def __init__(
        self,
        store: Store,
        changed: asyncio.Event,
        settings: CompileSettings | None = None,
        fetch: Callable[[ObjectKey], None] = lambda key: None,
    ) -> None:
        self.store = store
        self.changed = changed
        self.references = References(settings or CompileSettings())
        self._fetch = fetch
        self.statuses: dict[ObjectKey, Addresses] = {}
        """Every Ingress's `status.loadBalancer.ingress`, as the status writer compares it."""

    def replace(self, kind: str, objects: list[Mapping[str, Any]], namespace: str = "") -> None:
        """A fresh list of `kind` (of `namespace` only, when the list covered one)."""
        if kind in REFERENCED_KINDS:
            objects = [o for o in objects if object_key(kind, o) in self.references]
        if kind == "Ingress":
            self.statuses.clear()  # the status writer holds this dict: refill, never rebind
            self.statuses.update(
                (object_key(kind, o), status_addresses(o.get("status"))) for o in objects
            )
        items = []
        for obj in objects:
            converted = convert({**obj, "kind": kind})
            items.append((object_key(kind, obj), converted.view, converted.problems))
        if self.store.replace_kind(kind, items, namespace):
            self.changed.set()
        if kind in ("Ingress", "IngressClass"):
            before = self.references.wanted()
            present = {key for key, _, _ in items}
            for key in self.references.tracked(kind) - present:  # gone while we were away
                self._track(key, None)
            for key, view, _ in items:
                self._track(key, view)
            self._follow_references(before)

    def apply(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        """One watch event."""
        key = object_key(kind, obj)
        if kind in REFERENCED_KINDS and key not in self.references:
            if key in self.store and self.store.delete(key):
                self.changed.set()
            return
        if kind == "Ingress":
            if event_type == "DELETED":
                self.statuses.pop(key, None)
            else:
                self.statuses[key] = status_addresses(obj.get("status"))
        view = None
        if event_type == "DELETED":
            changed = self.store.delete(key)
        else:
            converted = convert({**obj, "kind": kind})
            view = converted.view
            changed = self.store.apply(key, view, converted.problems)
        if changed:
            self.changed.set()
        if kind in ("Ingress", "IngressClass"):
            before = self.references.wanted()
            self._track(key, view if event_type != "DELETED" else None)
            self._follow_references(before)

    def fetched(self, kind: str, obj: Mapping[str, Any]) -> None:
        """An object read by `fetch`: kept unless its watch delivered it meanwhile (the watch
        is newer or will deliver the newer version in order)."""
        key = object_key(kind, obj)
        if key in self.references and key not in self.store:
            converted = convert({**obj, "kind": kind})
            if self.store.apply(key, converted.view, converted.problems):
                self.changed.set()

    def _track(self, key: ObjectKey, view: object) -> None:
        if key[0] == "IngressClass":
            self.references.set_class(key, view if isinstance(view, IngressClass) else None)
        elif key[0] == "Ingress":
            refs = ingress_references(view) if isinstance(view, Ingress) else frozenset()
            accepted = self.store.accepted(key)
            if accepted is not None:
                refs |= ingress_references(accepted)
            self.references.set_ingress(key, refs)

    def _follow_references(self, before: set[ObjectKey]) -> None:
        """Fetch what became referenced and forget what no longer is."""
        after = self.references.wanted()
        for key in after - before:
            if key not in self.store:
                self._fetch(key)
        for key in before - after:
            if self.store.delete(key):
                self.changed.set()
