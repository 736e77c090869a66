"""Admission: decide once per Ingress version whether it can be accepted.

An Ingress version is accepted when every annotation value is valid and every regex path
compiles (DESIGN.md invariant 4). The result carries the parsed annotations and compiled
patterns, so the compiler never re-parses strings; the store keeps the last accepted version
when a newer one is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from annotations import IngressAnnotations, parse_all
from routing.problems import Problem
from routing.sources import Ingress, IngressPath

# PCRE spells a named group (?<name>…); Python needs (?P<name>…). Look-behinds keep their form.
_PCRE_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def compile_nginx_regex(path: str, *, anchored: bool, full: bool = False) -> re.Pattern[str]:
    """A path as nginx reads it in a regex location: case-insensitive, PCRE named groups allowed.

    `anchored` gives the location form ``~* "^<path>"``; unanchored is the `rewrite` form;
    `full` anchors the end too (Higress `full-path-regex`).
    """
    source = _PCRE_NAMED_GROUP.sub("(?P<", path)
    if full:
        source = f"(?:{source})$"
    return re.compile(("^" if anchored else "") + source, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AdmittedIngress:
    """An accepted Ingress version with everything the compiler needs pre-computed."""

    source: Ingress
    config: IngressAnnotations
    patterns: dict[str, tuple[re.Pattern[str], re.Pattern[str]]]
    """Path → (location pattern, rewrite pattern), for paths that are regexes or rewritten."""

    @property
    def is_canary(self) -> bool:
        """Canary Ingresses create no routes of their own."""
        return self.config.canary is not None

    def is_regex(self, path: IngressPath) -> bool:
        """ImplementationSpecific paths are regexes when the Ingress asked for regex mode."""
        rewrite = self.config.rewrite
        return (
            rewrite is not None and rewrite.use_regex and path.path_type == "ImplementationSpecific"
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome for one Ingress version: `admitted` is None when it was refused."""

    admitted: AdmittedIngress | None
    problems: tuple[Problem, ...]


def admit(ingress: Ingress) -> Admission:
    """Parse annotations and compile regex paths; refuse the version on any error."""
    meta = ingress.meta
    result = parse_all(meta.annotations or {})

    def problem(field: str, reason: str, code: str, severity: str = "error") -> Problem:
        return Problem("Ingress", meta.namespace, meta.name, field, reason, severity, code)  # type: ignore[arg-type]

    problems = [
        problem(f"metadata.annotations[{e.key}]", e.reason, "InvalidAnnotation")
        for e in result.errors
    ]
    problems += [
        problem(f"metadata.annotations[{w.key}]", w.reason, "UnknownAnnotation", "warning")
        for w in result.warnings
    ]
    if result.config is None:
        return Admission(None, tuple(problems))
    patterns: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {}
    rewrite = result.config.rewrite
    if rewrite is not None and rewrite.use_regex:
        for i, rule in enumerate(ingress.rules):
            for j, path in enumerate(rule.paths):
                if path.path in patterns:
                    continue
                try:
                    patterns[path.path] = (
                        compile_nginx_regex(path.path, anchored=True, full=rewrite.full_match),
                        compile_nginx_regex(path.path, anchored=False),
                    )
                except re.error as err:
                    problems.append(
                        problem(
                            f"spec.rules[{i}].http.paths[{j}].path",
                            f"{path.path!r} is not a valid regular expression: {err}",
                            "InvalidPath",
                        )
                    )
    if any(p.severity == "error" for p in problems):
        return Admission(None, tuple(problems))
    return Admission(AdmittedIngress(ingress, result.config, patterns), tuple(problems))
