"""Route conditions beyond host and path: method, headers and query parameters (Higress).

`match-method` and the `exact|prefix|regex-match-header-<name>` / `-match-query-<name>` keys add
conditions, ANDed together, to every rule path of the Ingress. They are part of the route key
(reference §4.5): two Ingresses may serve the same host and path when their conditions differ,
and a request that meets no route's conditions at a path falls through to shorter paths, then
to the catch-all, then 404.

Semantics follow Envoy's route matchers, which Higress compiles these keys into: `exact` and
`prefix` compare case-sensitively, `regex` must match the *whole* value, a missing header or
parameter fails every condition on it. Header names are case-insensitive; query parameter names
are exact and their values are percent-decoded. The first value counts when a header or
parameter is repeated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from annotations._fields import PREFIXES, Field, value_of
from annotations._validators import text
from annotations.errors import AnnotationError

Kind = Literal["exact", "prefix", "regex"]

# Higress's list (reference §2). CONNECT and TRACE are accepted but never reach a route: the
# gateway answers them 405, as nginx does.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

# `<kind>-match-<header|query>-<name>`; the name is whatever an annotation key allows.
_CONDITION_KEY = re.compile(
    r"(exact|prefix|regex)-match-(header|query)-([A-Za-z0-9][-A-Za-z0-9_.]*)"
)


def _methods(raw: str) -> tuple[str, ...]:
    """Methods separated by blanks or commas, in upper case, sorted and without repeats."""
    words = text(raw).replace(",", " ").upper().split()
    unknown = [w for w in words if w not in METHODS]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} is not a method this gateway matches "
            f"(one of {' '.join(sorted(METHODS))})"
        )
    return tuple(sorted(set(words)))


MATCH_METHOD = Field(
    "match-method",
    _methods,
    default=None,
    value_format="methods separated by spaces, e.g. `GET POST`",
    doc="The Ingress's paths serve only these methods; other methods fall through to other "
    "routes (or 404).",
    origin="mse",
)
MATCH_HEADER = Field(
    "exact|prefix|regex-match-header-<name>",
    text,
    default=None,
    value_format="text (regex: a whole-value regular expression)",
    doc="The Ingress's paths serve only requests whose header `<name>` equals, starts with or "
    "wholly matches the value. Several such keys all have to hold.",
    origin="mse",
)
MATCH_QUERY = Field(
    "exact|prefix|regex-match-query-<name>",
    text,
    default=None,
    value_format="text (regex: a whole-value regular expression)",
    doc="Likewise for the (percent-decoded) query parameter `<name>`.",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (MATCH_METHOD, MATCH_HEADER, MATCH_QUERY)


def is_condition_key(name: str) -> bool:
    """Whether a key without prefix is one of the templated `*-match-*` keys."""
    return _CONDITION_KEY.fullmatch(name) is not None


class Request(Protocol):
    """The parts of a request the conditions read."""

    method: str

    def header(self, name: str) -> str | None: ...

    def query(self, name: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ValueCondition:
    """One condition on a header or query parameter value."""

    kind: Kind
    name: str
    """Header name in lower case, or query parameter name as written."""
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    """`value` compiled, for `regex` conditions (equality and hashing use `value`)."""

    def accepts(self, actual: str | None) -> bool:
        """Whether the request's value (None: absent) meets this condition."""
        if actual is None:
            return False
        if self.pattern is not None:
            return self.pattern.fullmatch(actual) is not None
        if self.kind == "prefix":
            return actual.startswith(self.value)
        return actual == self.value

    def describe(self, target: str) -> str:
        """E.g. ``header x-user exact "123"``, for messages and `/debug/routes`."""
        return f'{target} {self.name} {self.kind} "{self.value}"'


@dataclass(frozen=True, slots=True)
class Conditions:
    """Every condition of one Ingress's routes; all must hold."""

    methods: tuple[str, ...] = ()
    """Allowed methods, sorted; empty means any method."""
    headers: tuple[ValueCondition, ...] = ()
    queries: tuple[ValueCondition, ...] = ()

    def accepts(self, request: Request) -> bool:
        """Whether the request meets every condition."""
        if self.methods and request.method not in self.methods:
            return False
        for condition in self.headers:
            if not condition.accepts(request.header(condition.name)):
                return False
        return all(c.accepts(request.query(c.name)) for c in self.queries)

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """Order among routes of the same path, most specific first (Higress's sort, reference
        §4.2): a method restriction first, fewer methods first, then more header conditions,
        then more query conditions."""
        return (
            0 if self.methods else 1,
            len(self.methods),
            -len(self.headers),
            -len(self.queries),
        )

    def describe(self) -> str:
        """E.g. ``method GET POST, header x-user exact "123"``."""
        parts = [f"method {' '.join(self.methods)}"] if self.methods else []
        parts += [c.describe("header") for c in self.headers]
        parts += [c.describe("query") for c in self.queries]
        return ", ".join(parts)


def _value_condition(kind: str, target: str, name: str, raw: str) -> ValueCondition:
    """One `*-match-*` key's condition; `ValueError` says what is wrong with it."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise ValueError(f"{raw!r} contains control characters")
    if target == "header" and "_" in name:
        raise ValueError(
            f"header names with '_' are dropped by the gateway (as nginx does), so a "
            f"condition on {name!r} could never hold"
        )
    pattern = None
    if kind == "regex":
        if not raw:
            raise ValueError("is empty (an empty regular expression only matches an empty value)")
        try:
            pattern = re.compile(raw)
        except re.error as err:
            raise ValueError(f"{raw!r} is not a valid regular expression: {err}") from None
    name = name.lower() if target == "header" else name
    return ValueCondition(kind, name, raw, pattern)  # type: ignore[arg-type]


def parse(annotations: Mapping[str, str]) -> Conditions | None:
    """The Ingress's route conditions, or None when it sets none."""
    methods = value_of(annotations, MATCH_METHOD)
    assert methods is None or isinstance(methods, tuple)
    chosen: dict[str, tuple[str, str]] = {}  # key without prefix → (full key, value)
    for prefix in PREFIXES:  # an earlier prefix wins, as for every other key
        for key, raw in annotations.items():
            if key.startswith(prefix) and is_condition_key(key[len(prefix) :]):
                chosen.setdefault(key[len(prefix) :], (key, raw))
    headers: list[ValueCondition] = []
    queries: list[ValueCondition] = []
    for name, (key, raw) in sorted(chosen.items()):
        found = _CONDITION_KEY.fullmatch(name)
        assert found is not None
        kind, target, subject = found.groups()
        try:
            condition = _value_condition(kind, target, subject, raw)
        except ValueError as err:
            raise AnnotationError(key, str(err)) from None
        (headers if target == "header" else queries).append(condition)
    if not methods and not headers and not queries:
        return None
    return Conditions(methods or (), tuple(headers), tuple(queries))
