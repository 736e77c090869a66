"""Annotations: raw Ingress annotation strings to frozen, typed configuration. Pure: no I/O.

One module per annotation group, each with a declarative `FIELDS` table and a
`parse(annotations) -> Config | None`; `registry.parse_all` runs them all.
"""

from __future__ import annotations

from annotations._fields import PREFIXES, find
from annotations.errors import AnnotationError
from annotations.registry import GROUPS, IngressAnnotations, ParseResult, parse_all

__all__ = [
    "GROUPS",
    "PREFIXES",
    "AnnotationError",
    "IngressAnnotations",
    "ParseResult",
    "find",
    "parse_all",
]
