"""Retries: `proxy-next-upstream`, `-tries` and `-timeout` per Ingress (reference §1E).

They override the ConfigMap keys of the same names for one Ingress's routes, with nginx's
meaning whatever the prefix: the conditions under which a failed try moves to the next endpoint,
the number of tries *including the first* (`0`: one per endpoint), and the time from the first
try after which no new one starts (`0`: none). nginx's rules always hold on top: nothing is
retried once a byte has gone to the client, non-idempotent methods only with `non_idempotent`,
and a request whose streamed body was too large to keep is never sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, is_set, optional_value
from annotations._validators import count, seconds

STATUS_CONDITIONS = frozenset({500, 502, 503, 504, 403, 404, 429})
CONDITIONS = frozenset(
    {"error", "timeout", "invalid_header", "non_idempotent", "off"}
    | {f"http_{code}" for code in STATUS_CONDITIONS}
)


def conditions(raw: str) -> frozenset[str]:
    """Conditions separated by blanks or commas; `off` alone turns retries off."""
    items = [i for i in raw.replace(",", " ").split() if i]
    unknown = [i for i in items if i not in CONDITIONS]
    if unknown or not items:
        raise ValueError(f"{raw!r}: use any of {' '.join(sorted(CONDITIONS))}")
    if "off" in items and len(items) > 1:
        raise ValueError(f"{raw!r}: `off` cannot be combined with other conditions")
    return frozenset(items)


NEXT_UPSTREAM = Field(
    "proxy-next-upstream",
    conditions,
    default=None,
    value_format="`error`, `timeout`, `invalid_header`, `http_500`, `http_502`, `http_503`, "
    "`http_504`, `http_403`, `http_404`, `http_429`, `non_idempotent`; or `off`",
    doc="When a try moves to the next endpoint; overrides the ConfigMap's (`error timeout`). "
    "A refused connection is always retried: the request never reached the pod.",
)
TRIES = Field(
    "proxy-next-upstream-tries",
    count,
    default=None,
    value_format="whole number; `0` = one per endpoint",
    doc="Tries per request, the first included (nginx's count); overrides the ConfigMap's (3).",
)
TIMEOUT = Field(
    "proxy-next-upstream-timeout",
    seconds,
    default=None,
    value_format="seconds; `0` = none",
    doc="No new try starts this long after the first one began; overrides the ConfigMap's (0).",
)

FIELDS: tuple[Field, ...] = (NEXT_UPSTREAM, TRIES, TIMEOUT)


@dataclass(frozen=True, slots=True)
class Retries:
    """One Ingress's retry settings; None leaves the ConfigMap's."""

    conditions: frozenset[str] | None = None
    tries: int | None = None
    timeout: float | None = None


def parse(annotations: Mapping[str, str]) -> Retries | None:
    """The retry settings, or None when no key of this group is set."""
    if not is_set(annotations, *FIELDS):
        return None
    return Retries(
        optional_value(annotations, NEXT_UPSTREAM, frozenset),
        optional_value(annotations, TRIES, int),
        optional_value(annotations, TIMEOUT, float),
    )
