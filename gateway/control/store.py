"""The store: the current view of every object, and the last accepted version of each Ingress.

Both sources feed it: the API watch with one object at a time (`apply`, `delete`), the manifest
source with the whole folder at once (`replace_all`, which also deletes what disappeared).

DESIGN.md invariant 4 lives here. Each Ingress version is admitted once (annotations parsed,
regex paths compiled); a version that is refused does not replace the last accepted one, which
keeps serving, and its problems are reported next to it. An object whose conversion failed is
treated the same way: its last good view stays. Every other object is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from routing.admission import Admission, AdmittedIngress, admit
from routing.problems import Problem
from routing.sources import Ingress, View
from routing.state import ClusterState

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name)."""
StoredObject = tuple[ObjectKey, "View | None", tuple[Problem, ...]]
"""What a source hands over per object: its key, its view (None if unusable), its problems."""

_STATE_FIELDS = {
    "IngressClass": "ingress_classes",
    "Ingress": "ingresses",
    "Service": "services",
    "EndpointSlice": "endpoint_slices",
    "Endpoints": "endpoints",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
}


class Store:
    """Objects by key; Ingresses by their accepted version. Not thread-safe; one owner."""

    def __init__(self) -> None:
        self._views: dict[ObjectKey, View] = {}
        self._accepted: dict[ObjectKey, AdmittedIngress] = {}
        self._latest: dict[ObjectKey, tuple[Ingress, Admission]] = {}
        self._problems: dict[ObjectKey, tuple[Problem, ...]] = {}
        self._state: ClusterState | None = None

    def apply(self, key: ObjectKey, view: View | None, problems: Iterable[Problem] = ()) -> bool:
        """Add or update one object; returns whether the state the compiler reads changed."""
        problems = tuple(problems)
        before = (self._views.get(key), self._accepted.get(key), self._problems.get(key, ()))
        if isinstance(view, Ingress):
            problems += self._admit(key, view)
        if view is not None:
            if self._views.get(key) != view:
                self._views[key] = view
        elif key in self._views:
            problems += (_kept_last_good(key),)
        self._set_problems(key, problems)
        after = (self._views.get(key), self._accepted.get(key), self._problems.get(key, ()))
        changed = any(a is not b for a, b in zip(before, after, strict=True))
        if changed:
            self._state = None
        return changed

    def delete(self, key: ObjectKey) -> bool:
        """Forget one object; returns whether anything was known about it."""
        known = key in self._views or key in self._problems
        self._views.pop(key, None)
        self._accepted.pop(key, None)
        self._latest.pop(key, None)
        self._problems.pop(key, None)
        if known:
            self._state = None
        return known

    def replace_all(self, objects: Iterable[StoredObject]) -> bool:
        """Make the store hold exactly `objects` (file mode); returns whether anything changed."""
        return self._replace(objects, kind=None)

    def replace_kind(self, kind: str, objects: Iterable[StoredObject], namespace: str = "") -> bool:
        """Make the store hold exactly `objects` of `kind` (after a list from the API server),
        in `namespace` only when the list covered one namespace."""
        return self._replace(objects, kind=kind, namespace=namespace)

    def _replace(
        self, objects: Iterable[StoredObject], *, kind: str | None, namespace: str = ""
    ) -> bool:
        changed = False
        present: set[ObjectKey] = set()
        for key, view, problems in objects:
            present.add(key)
            changed |= self.apply(key, view, problems)
        for key in {*self._views, *self._problems} - present:
            if (kind is None or key[0] == kind) and namespace in ("", key[1]):
                changed |= self.delete(key)
        return changed

    def __contains__(self, key: ObjectKey) -> bool:
        return key in self._views

    def accepted(self, key: ObjectKey) -> Ingress | None:
        """The accepted version of an Ingress, if any."""
        admitted = self._accepted.get(key)
        return admitted.source if admitted is not None else None

    def uid_of(self, key: ObjectKey) -> str:
        """The API server's uid of an object ("" when unknown or from a file)."""
        view = self._views.get(key)
        return view.meta.uid if view is not None else ""

    def state(self) -> ClusterState:
        """The immutable input of the next compile (cached until something changes)."""
        if self._state is None:
            groups: dict[str, list[object]] = {name: [] for name in _STATE_FIELDS.values()}
            for key, view in self._views.items():
                if key[0] != "Ingress":
                    groups[_STATE_FIELDS[key[0]]].append(view)
            groups["ingresses"] = list(self._accepted.values())
            problems = tuple(p for ps in self._problems.values() for p in ps)
            self._state = ClusterState(
                **{name: tuple(items) for name, items in groups.items()},  # type: ignore[arg-type]
                problems=problems,
            )
        return self._state

    def _admit(self, key: ObjectKey, ingress: Ingress) -> tuple[Problem, ...]:
        """Admit an Ingress version (parsing it only when the version is new); its problems."""
        latest = self._latest.get(key)
        if latest is not None and _same_version(latest[0], ingress):
            admission = latest[1]
            admitted = admission.admitted
            if admitted is not None and admitted.source != ingress:  # same content, new position
                admission = Admission(replace(admitted, source=ingress), admission.problems)
        else:
            admission = admit(ingress)
        self._latest[key] = (ingress, admission)
        if admission.admitted is not None:
            if self._accepted.get(key) is not admission.admitted:
                self._accepted[key] = admission.admitted
            return admission.problems
        if key in self._accepted:
            return (*admission.problems, _kept_last_good(key))
        return admission.problems

    def _set_problems(self, key: ObjectKey, problems: tuple[Problem, ...]) -> None:
        if problems:
            if self._problems.get(key) != problems:
                self._problems[key] = problems
        else:
            self._problems.pop(key, None)


def _same_version(old: Ingress, new: Ingress) -> bool:
    """Same resourceVersion from the API server, or, in file mode, the same content."""
    if old.meta.resource_version and new.meta.resource_version:
        return (
            old.meta.resource_version == new.meta.resource_version and old.meta.uid == new.meta.uid
        )
    return replace(old, meta=replace(old.meta, position=0)) == replace(
        new, meta=replace(new.meta, position=0)
    )


def _kept_last_good(key: ObjectKey) -> Problem:
    kind, namespace, name = key
    return Problem(
        kind,
        namespace,
        name,
        "metadata",
        "this version is not accepted; the last accepted version keeps serving",
        "warning",
        "VersionRefused",
    )
