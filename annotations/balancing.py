"""Load balancing: `load-balance` and `upstream-hash-by` (reference §1F).

`load-balance` picks the algorithm: `round_robin` (the default), `least_conn` (fewest requests in
flight), `ewma` (lowest latency, decayed, times requests in flight, between two random
endpoints, as ingress-nginx's ewma does) or `random`. `upstream-hash-by` wins over it, as in
ingress-nginx: the key, made of text and nginx variables, is hashed onto a consistent-hash ring,
so the same key keeps reaching the same endpoint and an endpoint joining or leaving moves only
about 1/n of the keys. With `upstream-hash-by-subset` the key picks a group of
`upstream-hash-by-subset-size` endpoints and the request a random member of it. MSE's
`warmup` gives endpoints the gateway starts to see a growing share (slow start).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, optional_value, typed_value
from annotations._validators import boolean, count, one_of, seconds, text
from annotations.errors import AnnotationError

ALGORITHMS = ("round_robin", "least_conn", "ewma", "random")

# `$name` or `${name}`; the name runs over letters, digits and `_` (and `-` inside `http_`).
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_-]+)\}|([A-Za-z0-9_]+))")
_PLAIN = frozenset(
    {"request_uri", "uri", "host", "remote_addr", "remote_user", "args", "query_string"}
)
_PREFIXED = ("http_", "arg_", "cookie_")

Part = str | tuple[str, str]
"""A literal piece of a hash key, or a variable as (kind, name): kind is one of `_PLAIN`, or
`http`, `arg`, `cookie` with the header, parameter or cookie name."""


def _variable(name: str) -> tuple[str, str]:
    if name in _PLAIN:
        return name, ""
    for prefix in _PREFIXED:
        if name.startswith(prefix) and len(name) > len(prefix):
            return prefix[:-1], name[len(prefix) :]
    raise ValueError(
        f"${name} is not supported (use $request_uri, $uri, $host, $remote_addr, $remote_user, "
        "$args, "
        "$http_<name>, $arg_<name> or $cookie_<name>)"
    )


def hash_template(raw: str) -> tuple[Part, ...]:
    """Text with nginx variables, split into literal pieces and variables."""
    value = text(raw)
    parts: list[Part] = []
    end = 0
    for found in _VARIABLE.finditer(value):
        if found.start() > end:
            parts.append(value[end : found.start()])
        parts.append(_variable(found.group(1) or found.group(2)))
        end = found.end()
    if end < len(value):
        parts.append(value[end:])
    if not any(isinstance(p, tuple) for p in parts):
        raise ValueError(f"{value!r} has no variable: every request would hash alike")
    return tuple(parts)


LOAD_BALANCE = Field(
    "load-balance",
    one_of(*ALGORITHMS),
    default="round_robin",
    value_format="`round_robin`, `least_conn`, `ewma` or `random`",
    doc="How this Ingress's routes pick an endpoint. Load (requests in flight, latency) is "
    "measured per endpoint, shared by every route that sends there.",
)
UPSTREAM_HASH_BY = Field(
    "upstream-hash-by",
    hash_template,
    default=None,
    value_format="text with nginx variables, e.g. `$request_uri`, `$http_x_user`, `$cookie_id`",
    doc="Consistent hashing on this key (wins over `load-balance`): the same key reaches the "
    "same endpoint, and an endpoint joining or leaving moves about 1/n of the keys.",
)


def _subset_size(raw: str) -> int:
    size = count(raw)
    if size < 1:
        raise ValueError(f"{raw!r}: a subset holds at least one endpoint")
    return size


HASH_BY_SUBSET = Field(
    "upstream-hash-by-subset",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="With `upstream-hash-by`: the key picks a group of endpoints instead of one, and each "
    "request goes to a random endpoint of that group (spreads hot keys).",
)
HASH_BY_SUBSET_SIZE = Field(
    "upstream-hash-by-subset-size",
    _subset_size,
    default=3,
    value_format="whole number, 1 or more",
    doc="Endpoints per group for `upstream-hash-by-subset`.",
)

WARMUP = Field(
    "warmup",
    seconds,
    default=0.0,
    value_format="seconds (or with `ms`, `s`, `m`)",
    doc="Slow start: an endpoint the gateway starts to see takes a share that grows linearly "
    "from 10 % to its full share over this time (not with `upstream-hash-by`).",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (
    LOAD_BALANCE,
    UPSTREAM_HASH_BY,
    HASH_BY_SUBSET,
    HASH_BY_SUBSET_SIZE,
    WARMUP,
)


@dataclass(frozen=True, slots=True)
class Balancing:
    """The balancing settings of one Ingress."""

    algorithm: str = "round_robin"
    hash_by: tuple[Part, ...] | None = None
    """The `upstream-hash-by` key template; when set it decides, whatever `algorithm` says."""
    subset_size: int = 0
    """With `upstream-hash-by-subset`: endpoints per group the key picks (0: no subsets)."""
    warmup: float = 0.0
    """MSE slow start window in seconds (0: none)."""


def parse(annotations: Mapping[str, str]) -> Balancing | None:
    """The balancing settings, or None when neither key is set (round robin)."""
    if not is_set(annotations, *FIELDS):
        return None
    hash_by = optional_value(annotations, UPSTREAM_HASH_BY, tuple)
    size = typed_value(annotations, HASH_BY_SUBSET_SIZE, int)  # validated even when unused
    subset = typed_value(annotations, HASH_BY_SUBSET, bool) and hash_by is not None
    return Balancing(
        typed_value(annotations, LOAD_BALANCE, str),
        hash_by,
        size if subset else 0,
        typed_value(annotations, WARMUP, float),
    )


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """Subset keys without `upstream-hash-by` do nothing."""
    if is_set(annotations, UPSTREAM_HASH_BY):
        return []
    return [
        AnnotationError(found[0], "has no effect without upstream-hash-by")
        for field in (HASH_BY_SUBSET, HASH_BY_SUBSET_SIZE)
        if (found := find(annotations, field.name)) is not None
    ]
