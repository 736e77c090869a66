"""Stable content digests of route tables and endpoint sets.

The compiler orders everything deterministically, so the same objects in any order give the same
table; the digest is a hash of a canonical text form of it. The reconciler swaps only when the
digest changes, and `gateway_config_hash` exposes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
import re
from collections.abc import Iterable, Mapping

from routing.globals import GlobalConfig
from routing.model import BackendKey, Endpoint, Route
from routing.problems import Problem

_PLAIN = (str, int, float, bool)
_FIELDS: dict[type, operator.attrgetter[tuple[object, ...]]] = {}
"""Per dataclass type: one C call that reads every compared field (`__class__` appended so
that the result is a tuple even for a one-field class)."""


def _canonical(value: object) -> object:
    """A JSON-ready form of a route and everything it holds, the same in every process:
    dataclasses by their compared fields in declaration order, sets sorted, patterns as (source,
    flags), bytes as text. Generic on purpose: a field added to the model is part of the digest
    without being listed here, so a change to it can never be left unswapped."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, (tuple, list)):
        return [_canonical(v) for v in value]
    if isinstance(value, (frozenset, set)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, re.Pattern):
        return [value.pattern, value.flags]
    getter = _FIELDS.get(type(value))
    if getter is None:
        if not dataclasses.is_dataclass(value):
            raise TypeError(f"no canonical form for {type(value).__name__}")
        names = [f.name for f in dataclasses.fields(value) if f.compare]
        getter = _FIELDS[type(value)] = operator.attrgetter(*names, "__class__")
    return [
        field if field is None or type(field) in _PLAIN else _canonical(field) if field else []
        for field in getter(value)[:-1]
    ]


def _hash(document: object) -> str:
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def routes_digest(routes: Iterable[Route]) -> str:
    """Digest of a route table's routes, in their (deterministic) order."""
    return _hash(_canonical(tuple(routes)))


def endpoints_digest(endpoints: Mapping[BackendKey, tuple[Endpoint, ...]]) -> str:
    """Digest of endpoint sets, independent of mapping order."""
    return _hash(sorted((k, [e.hostport for e in v]) for k, v in endpoints.items()))


def problems_digest(problems: Iterable[Problem]) -> str:
    """Digest of the problem list, so a newly refused version (routes unchanged) still swaps."""
    return _hash([p.line() for p in problems])


def config_digest(config: GlobalConfig) -> str:
    """Digest of the global settings (some are sets, so not their `repr`)."""
    return _hash(_canonical(config))


def snapshot_digest(*parts: str) -> str:
    """Digest of a whole snapshot from the digests of its parts."""
    return _hash(list(parts))
