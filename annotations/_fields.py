"""The field table that every annotation group declares, and prefix-aware lookup.

A `Field` is one annotation key without its prefix. The same tables drive parsing, the
unknown-key warnings and the generated `docs/annotations.md`, so a key cannot be supported
without being documented.

Prefixes (DESIGN.md invariant 4): a key may be written under any of `PREFIXES`. When two
prefixes set the same key, the earlier prefix in `PREFIXES` wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from annotations._validators import Validator
from annotations.errors import AnnotationError

T = TypeVar("T")

NGINX_PREFIX = "nginx.ingress.kubernetes.io/"
MSE_PREFIX = "mse.ingress.kubernetes.io/"
HIGRESS_PREFIX = "higress.io/"
PREFIXES: tuple[str, ...] = (NGINX_PREFIX, MSE_PREFIX, HIGRESS_PREFIX)

Scope = Literal["ingress", "host", "service"]
Origin = Literal["nginx", "mse", "nginx+mse"]


@dataclass(frozen=True, slots=True)
class Field:
    """One annotation key: how its value is validated, its default and its documentation."""

    name: str
    """Key without prefix, e.g. ``use-regex``."""
    validator: Validator
    default: object
    doc: str
    value_format: str
    scope: Scope = "ingress"
    origin: Origin = "nginx+mse"


def find(annotations: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The (full key, raw value) that sets `name`, honouring prefix priority, or None."""
    for prefix in PREFIXES:
        key = prefix + name
        value = annotations.get(key)
        if value is not None:
            return key, value
    return None


def value_of(annotations: Mapping[str, str], field: Field) -> object:
    """The validated value of `field`, or its default when no prefix sets it.

    Raises `AnnotationError` naming the exact key the user wrote.
    """
    found = find(annotations, field.name)
    if found is None:
        return field.default
    key, raw = found
    try:
        return field.validator(raw)
    except ValueError as err:
        raise AnnotationError(key, str(err)) from None


def typed_value(annotations: Mapping[str, str], field: Field, kind: type[T]) -> T:
    """`value_of` for a field whose validator (and default) give a `kind`."""
    value = value_of(annotations, field)
    assert isinstance(value, kind), (field.name, value)
    return value


def optional_value(annotations: Mapping[str, str], field: Field, kind: type[T]) -> T | None:
    """`value_of` for a field whose default is None and whose validator gives a `kind`."""
    value = value_of(annotations, field)
    assert value is None or isinstance(value, kind), (field.name, value)
    return value


def is_set(annotations: Mapping[str, str], *fields: Field) -> bool:
    """Whether any prefix sets any of `fields`."""
    return any(find(annotations, f.name) is not None for f in fields)


def strip_prefix(key: str) -> str | None:
    """The key's name without one of our prefixes, or None when it is not one of ours."""
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return None
