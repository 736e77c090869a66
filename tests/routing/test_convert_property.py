"""Property: conversion never raises, whatever shape the input has; it returns a view or
problems (DESIGN.md: a cluster object is data, never a reason to crash)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.admission import admit
from routing.convert import KINDS, convert
from routing.sources import Ingress
from tests.objects import ingress, path, rule

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=8))
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "spec",
    "rules",
    "http",
    "paths",
    "path",
    "pathType",
    "backend",
    "service",
    "port",
    "number",
    "name",
    "host",
    "defaultBackend",
    "ports",
    "endpoints",
    "subsets",
    "addresses",
    "conditions",
    "data",
    "metadata",
    "targetPort",
    "type",
    "tls",
    "hosts",
]


def _mutate(obj: Any, data: st.DataObject, *, root: bool = False) -> Any:
    """Replace one randomly chosen field somewhere in `obj` with arbitrary JSON-like data."""
    if isinstance(obj, dict) and obj and (root or data.draw(st.booleans())):
        key = data.draw(st.sampled_from(sorted(obj)))
        return {**obj, key: _mutate(obj[key], data)}
    if isinstance(obj, list) and obj and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(obj) - 1))
        return [*obj[:i], _mutate(obj[i], data), *obj[i + 1 :]]
    return data.draw(json_like)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_convert_and_admit_never_raise_on_mutated_ingresses(data: st.DataObject) -> None:
    base = ingress(
        "i",
        rule("h", path("/a"), path("/b", "Exact")),
        annotations={"nginx.ingress.kubernetes.io/use-regex": "true"},
    )
    converted = convert(_mutate(base, data, root=True))
    if isinstance(converted.view, Ingress):
        admit(converted.view)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(KINDS)),
    st.dictionaries(st.sampled_from(FIELDS), json_like, max_size=5),
    st.dictionaries(st.sampled_from(FIELDS), json_like, max_size=3),
)
def test_convert_never_raises_on_arbitrary_objects(
    kind: str, body: dict[str, Any], metadata: dict[str, Any]
) -> None:
    convert({**body, "kind": kind, "metadata": {"name": "x", **metadata}})
