"""Canary: marks an Ingress as an alternative backend for another Ingress's rules.

This module parses the `canary` switch only. A canary Ingress never creates routes of its own and
takes no part in path conflicts (reference §3.1); the request-shaping keys (`canary-by-header`,
`canary-weight`, …) arrive with the canary issue and are reported as unsupported until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, value_of
from annotations._validators import boolean

CANARY = Field(
    "canary",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Marks this Ingress as a canary of the non-canary Ingress with the same host and path. "
    "A canary Ingress creates no routes of its own and never conflicts with other Ingresses.",
)

FIELDS: tuple[Field, ...] = (CANARY,)


@dataclass(frozen=True, slots=True)
class Canary:
    """The canary settings of one Ingress."""

    enabled: bool


def parse(annotations: Mapping[str, str]) -> Canary | None:
    """The canary settings, or None when the Ingress is not a canary."""
    enabled = value_of(annotations, CANARY)
    assert isinstance(enabled, bool)
    return Canary(enabled=True) if enabled else None
