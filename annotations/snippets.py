"""Snippet annotations (raw nginx configuration) are refused, naming the key (issue #5 §7).

`configuration-snippet`, `server-snippet`, `stream-snippet`, `auth-snippet` and
`modsecurity-snippet` carry nginx directives. This gateway is not nginx, and a snippet often
guards something (denies a path, adds a check), so serving the Ingress without it could open
access that its author closed. An Ingress version with a snippet is therefore refused like any
invalid value (DESIGN.md invariant 4): the problem names the key, the last accepted version
keeps serving, and the fix is to express the snippet with a supported annotation. ingress-nginx
itself has disabled snippets by default since CVE-2021-25742; Higress ignores them silently,
which is the behaviour users most often trip over when migrating.
"""

from __future__ import annotations

from collections.abc import Mapping

from annotations._fields import Field, value_of

SNIPPET_KEYS = (
    "configuration-snippet",
    "server-snippet",
    "stream-snippet",
    "auth-snippet",
    "modsecurity-snippet",
)


def _refuse(raw: str) -> None:
    """Never valid: raw nginx configuration cannot be applied."""
    raise ValueError(
        "snippets of raw nginx configuration are not supported; this Ingress version is "
        "refused rather than served without it (use the equivalent annotations instead)"
    )


FIELDS: tuple[Field, ...] = tuple(
    Field(
        key,
        _refuse,
        default=None,
        value_format="refused",
        doc="Raw nginx configuration: refused, so that an Ingress is never served without a "
        "directive its author relied on.",
        origin="nginx",
    )
    for key in SNIPPET_KEYS
)


def parse(annotations: Mapping[str, str]) -> None:
    """Raise `AnnotationError` for the first snippet key present."""
    for field in FIELDS:
        value_of(annotations, field)
