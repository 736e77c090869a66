"""Request and response bodies: `proxy-body-size`, `client-body-buffer-size`, `proxy-buffering`
and `proxy-request-buffering` (reference §1L).

`proxy-body-size` is nginx's `client_max_body_size` for one Ingress: a larger request gets 413,
before any of its body is read when `Content-Length` already says so, otherwise as soon as the
streamed body passes the limit; `0` lifts it. `client-body-buffer-size` is how much of a request
body the gateway keeps in memory so that it can be replayed on a retry (nginx's in-memory body
buffer; beyond it nginx writes a temporary file, we stream and do not retry).

The buffering switches are accepted so that Ingresses written for ingress-nginx load unchanged,
but the gateway always streams both ways with flow control (MSE documents them as having no
effect too): `on` draws a warning that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, optional_value, value_of
from annotations._validators import on_off, size
from annotations.errors import AnnotationError


def _buffer_size(raw: str) -> int:
    value = size(raw)
    if value <= 0:
        raise ValueError(f"{raw!r}: a buffer holds at least one byte")
    return value


BODY_SIZE = Field(
    "proxy-body-size",
    size,
    default=None,
    value_format="size (`8m`, `512k`); `0` = unlimited",
    doc="Largest request body; larger requests get 413. Overrides the ConfigMap's (1m).",
)
BUFFER_SIZE = Field(
    "client-body-buffer-size",
    _buffer_size,
    default=None,
    value_format="size (`16k`, `1m`)",
    doc="Request body kept in memory so that a retry can replay it (default 64k); a larger "
    "body is streamed and never sent twice. What arrived before the first try is kept anyway.",
)
BUFFERING = Field(
    "proxy-buffering",
    on_off,
    default="off",
    value_format="`on` or `off`",
    doc="Accepted; responses are always streamed with flow control (`on` draws a warning).",
)
REQUEST_BUFFERING = Field(
    "proxy-request-buffering",
    on_off,
    default="on",
    value_format="`on` or `off`",
    doc="Accepted; request bodies are always streamed with flow control (`on` draws a warning).",
)

FIELDS: tuple[Field, ...] = (BODY_SIZE, BUFFER_SIZE, BUFFERING, REQUEST_BUFFERING)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """One Ingress's body settings; None leaves the global one."""

    max_size: int | None = None
    """`proxy-body-size` in bytes, 0 for unlimited."""
    keep: int | None = None
    """`client-body-buffer-size`: bytes kept for replays."""


def parse(annotations: Mapping[str, str]) -> BodyLimits | None:
    """The body settings, or None when neither limit is set (the switches change nothing)."""
    for switch in (BUFFERING, REQUEST_BUFFERING):
        value_of(annotations, switch)  # validates
    if not is_set(annotations, BODY_SIZE, BUFFER_SIZE):
        return None
    return BodyLimits(
        optional_value(annotations, BODY_SIZE, int), optional_value(annotations, BUFFER_SIZE, int)
    )


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """Buffering asked for, which the gateway does not do."""
    out = []
    for switch in (BUFFERING, REQUEST_BUFFERING):
        found = find(annotations, switch.name)
        if found is not None and found[1].strip().lower() == "on":
            out.append(
                AnnotationError(
                    found[0],
                    "the gateway streams bodies with flow control instead of buffering them; "
                    "this has no effect",
                )
            )
    return out
