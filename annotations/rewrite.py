"""Regex paths and path rewriting: nginx `use-regex`, `rewrite-target` (reference §4.6) and
Higress `rewrite-path`, `full-path-regex`, `ignore-path-case` (reference §2).

nginx semantics: a path of an Ingress in regex mode is a case-insensitive regular expression
anchored at the start only. `rewrite-target` implies regex mode, and replaces the *whole* request
path with the target after substituting `$1`…`$9` from the path's capture groups; the query
string is kept. Unlike ingress-nginx, regex mode stays confined to the Ingress that asked for it
(DESIGN.md invariant 6) unless the `host-wide-regex` global setting restores nginx's behaviour.

Higress additions: `full-path-regex` anchors regex paths at both ends (and implies regex mode);
`rewrite-path` replaces only the part of the path the rule matched, without regex, and wins over
`rewrite-target`; `ignore-path-case` makes the Ingress's Exact and Prefix paths case-insensitive
(regex paths already are, as in nginx).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, value_of
from annotations._validators import boolean, uri_path
from annotations.errors import AnnotationError

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


def _static_path(raw: str) -> str:
    """A plain path: starts with `/`, no `$` (capture groups belong to `rewrite-target`)."""
    value = uri_path(raw)
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must start with '/'")
    if "$" in value:
        raise ValueError(
            f"{value!r} contains '$': rewrite-path is a static path; use rewrite-target for "
            "capture groups"
        )
    return value


REWRITE_PATH = Field(
    "rewrite-path",
    _static_path,
    default=None,
    value_format="path",
    doc="Replace the part of the request path the rule matched with this path (Prefix `/v1` "
    "with `/v2`: `/v1/a` → `/v2/a`; Exact: the whole path); no regex, query kept. Wins over "
    "`rewrite-target`.",
    origin="mse",
)
FULL_PATH_REGEX = Field(
    "full-path-regex",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Regex paths of this Ingress must match the whole request path (`^path$`) instead of "
    "its start. Implies `use-regex`.",
    origin="mse",
)
IGNORE_PATH_CASE = Field(
    "ignore-path-case",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Match this Ingress's Exact and Prefix paths without regard to case (regex paths "
    "already ignore case).",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (
    USE_REGEX,
    REWRITE_TARGET,
    REWRITE_PATH,
    FULL_PATH_REGEX,
    IGNORE_PATH_CASE,
)


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Regex mode, path matching options and rewrite of one Ingress."""

    use_regex: bool
    """True when the Ingress's ImplementationSpecific paths are regular expressions."""
    target: str | None
    """The `rewrite-target` template, None when paths are forwarded unchanged."""
    path: str | None = None
    """The `rewrite-path` replacement for the matched part of the path."""
    full_match: bool = False
    """Regex paths match the whole request path (`full-path-regex`)."""
    ignore_case: bool = False
    """Exact and Prefix paths ignore case (`ignore-path-case`)."""


def _bool(annotations: Mapping[str, str], field: Field) -> bool:
    value = value_of(annotations, field)
    assert isinstance(value, bool)
    return value


def parse(annotations: Mapping[str, str]) -> Rewrite | None:
    """The rewrite settings, or None when no key of this group is set."""
    if not is_set(annotations, *FIELDS):
        return None
    full_match = _bool(annotations, FULL_PATH_REGEX)
    ignore_case = _bool(annotations, IGNORE_PATH_CASE)
    path = value_of(annotations, REWRITE_PATH)
    target = value_of(annotations, REWRITE_TARGET) if path is None else None
    assert path is None or isinstance(path, str)
    assert target is None or isinstance(target, str)
    use_regex = _bool(annotations, USE_REGEX) or target is not None or full_match
    return Rewrite(use_regex, target, path, full_match, ignore_case)


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """`rewrite-target` next to `rewrite-path` is ignored (Higress's precedence)."""
    found = find(annotations, REWRITE_TARGET.name)
    if found is None or not is_set(annotations, REWRITE_PATH):
        return []
    return [AnnotationError(found[0], "is ignored because rewrite-path is set")]
