"""Regex paths and path rewriting: `use-regex` and `rewrite-target` (reference §4.6).

nginx semantics: a path of an Ingress in regex mode is a case-insensitive regular expression
anchored at the start only. `rewrite-target` implies regex mode, and replaces the *whole* request
path with the target after substituting `$1`…`$9` from the path's capture groups; the query
string is kept. Unlike ingress-nginx, regex mode stays confined to the Ingress that asked for it
(DESIGN.md invariant 6).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, is_set, value_of
from annotations._validators import boolean, uri_path

_VARIABLE = re.compile(r"\$(?![1-9])")


def _target(raw: str) -> str:
    """A path template whose only `$` references are capture groups `$1`…`$9`."""
    value = uri_path(raw)
    if _VARIABLE.search(value):
        raise ValueError(
            f"{value!r} uses an nginx variable; only capture groups $1 to $9 are supported"
        )
    return value


USE_REGEX = Field(
    "use-regex",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Treat this Ingress's ImplementationSpecific paths as case-insensitive regular "
    "expressions anchored at the start (nginx `location ~*`). Confined to this Ingress.",
)
REWRITE_TARGET = Field(
    "rewrite-target",
    _target,
    default=None,
    value_format="path; may use `$1`…`$9` from the path's capture groups",
    doc="Replace the whole request path with this target before proxying; the query string is "
    "kept. Implies `use-regex` for this Ingress.",
)

FIELDS: tuple[Field, ...] = (USE_REGEX, REWRITE_TARGET)


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Regex mode and rewrite target of one Ingress."""

    use_regex: bool
    """True when the Ingress's ImplementationSpecific paths are regular expressions."""
    target: str | None
    """The `rewrite-target` template, None when paths are forwarded unchanged."""


def parse(annotations: Mapping[str, str]) -> Rewrite | None:
    """The rewrite settings, or None when neither key is set."""
    if not is_set(annotations, *FIELDS):
        return None
    use_regex = value_of(annotations, USE_REGEX)
    target = value_of(annotations, REWRITE_TARGET)
    assert isinstance(use_regex, bool)
    assert target is None or isinstance(target, str)
    return Rewrite(use_regex=use_regex or target is not None, target=target)
