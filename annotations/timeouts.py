"""Upstream timeouts: nginx `proxy-connect-timeout`, `proxy-send-timeout`, `proxy-read-timeout`
(per I/O, overriding the ConfigMap's) and Higress `timeout` (the whole request) (reference §1L,
§2).

nginx's timeouts bound each wait: connecting, the pause between two writes of the request to the
pod, the pause between two reads of its response. Higress's `timeout` (Envoy's route timeout)
bounds the whole exchange, from the first try to the last response byte; when it expires before
the response has started the client gets 504, afterwards the connection is cut. Both can be set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, is_set, optional_value, typed_value
from annotations._validators import seconds


def _positive(raw: str) -> float:
    value = seconds(raw)
    if value <= 0:
        raise ValueError(f"{raw!r}: a timeout must be above zero")
    return value


CONNECT = Field(
    "proxy-connect-timeout",
    _positive,
    default=None,
    value_format="seconds (or with `ms`, `s`, `m`)",
    doc="Longest wait for a connection to a pod; overrides the ConfigMap's (5 s).",
)
SEND = Field(
    "proxy-send-timeout",
    _positive,
    default=None,
    value_format="seconds (or with `ms`, `s`, `m`)",
    doc="Longest pause while the pod is not taking the request; overrides the ConfigMap's (60 s).",
)
READ = Field(
    "proxy-read-timeout",
    _positive,
    default=None,
    value_format="seconds (or with `ms`, `s`, `m`)",
    doc="Longest pause between two reads of the pod's response, once the request is all sent; "
    "overrides the ConfigMap's (60 s).",
)
TOTAL = Field(
    "timeout",
    seconds,
    default=0.0,
    value_format="seconds; `0` = none",
    doc="Whole-request limit (Higress): from the first try to the last response byte. Before "
    "the response starts → 504; after, the connection is cut.",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (CONNECT, SEND, READ, TOTAL)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """One Ingress's timeouts; None (or 0 for `total`) leaves the global setting."""

    connect: float | None = None
    send: float | None = None
    read: float | None = None
    total: float = 0.0


def parse(annotations: Mapping[str, str]) -> Timeouts | None:
    """The timeouts, or None when no key of this group is set."""
    if not is_set(annotations, *FIELDS):
        return None
    return Timeouts(
        optional_value(annotations, CONNECT, float),
        optional_value(annotations, SEND, float),
        optional_value(annotations, READ, float),
        typed_value(annotations, TOTAL, float),
    )
