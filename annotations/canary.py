"""Canary: an Ingress that takes a share of another Ingress's traffic (reference §3).

A canary Ingress (`canary: "true"`) creates no routes of its own: each of its rules attaches to
the route of an older, non-canary Ingress with the same host, path and pathType, and the
selectors below decide per request whether that route's request goes to the canary's Service.

Per canary Ingress the order is nginx's: header, then cookie, then weight. `always` selects the
canary, `never` rules it out for the rest of the decision (its cookie and weight included); a
`-value` or `-pattern` replaces the `always`/`never` words. MSE's query selector sits next to the
header, MSE's `canary-by-cookie-value` replaces `always` for the cookie. Several canary
Ingresses may share one route, which nginx cannot do; how they combine is in `routing.canary`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, value_of
from annotations._validators import boolean, count, regex, text
from annotations.errors import AnnotationError

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _name(raw: str) -> str:
    """A header, cookie or query parameter name: an HTTP token."""
    value = text(raw)
    if not _TOKEN.match(value):
        raise ValueError(f"{value!r} is not a valid name (letters, digits and -._~ etc.)")
    return value


def _pattern(raw: str) -> re.Pattern[str]:
    """A regular expression, searched (not anchored) in the value, as nginx's ngx.re.match."""
    return regex(raw)


CANARY = Field(
    "canary",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Marks this Ingress as a canary of the non-canary Ingress with the same host, path and "
    "pathType. A canary Ingress creates no routes of its own and never conflicts with others; "
    "its other annotations are ignored (the primary's apply), as in ingress-nginx.",
)
BY_HEADER = Field(
    "canary-by-header",
    _name,
    default=None,
    value_format="header name",
    doc="Request header that selects the canary: `always` → canary, `never` → primary (this "
    "canary's cookie and weight are skipped), anything else falls through to the cookie.",
)
BY_HEADER_VALUE = Field(
    "canary-by-header-value",
    text,
    default=None,
    value_format="text",
    doc="With `canary-by-header`: the header must equal this value to select the canary "
    "(`always`/`never` lose their meaning); otherwise the cookie and weight decide.",
)
BY_HEADER_PATTERN = Field(
    "canary-by-header-pattern",
    _pattern,
    default=None,
    value_format="regular expression",
    doc="With `canary-by-header`, when no `-value` is set: a header value in which the pattern "
    "is found (unanchored search) selects the canary.",
)
BY_QUERY = Field(
    "canary-by-query",
    _name,
    default=None,
    value_format="query parameter name",
    doc="Like `canary-by-header`, on a URL query parameter; checked right after the header.",
    origin="mse",
)
BY_QUERY_VALUE = Field(
    "canary-by-query-value",
    text,
    default=None,
    value_format="text",
    doc="With `canary-by-query`: the parameter must equal this value to select the canary.",
    origin="mse",
)
BY_QUERY_PATTERN = Field(
    "canary-by-query-pattern",
    _pattern,
    default=None,
    value_format="regular expression",
    doc="With `canary-by-query`, when no `-value` is set: a parameter value in which the "
    "pattern is found selects the canary.",
    origin="mse",
)
BY_COOKIE = Field(
    "canary-by-cookie",
    _name,
    default=None,
    value_format="cookie name",
    doc="Cookie that selects the canary: `always` → canary, `never` → primary (this canary's "
    "weight is skipped), anything else falls through to the weight.",
)
BY_COOKIE_VALUE = Field(
    "canary-by-cookie-value",
    text,
    default=None,
    value_format="text",
    doc="With `canary-by-cookie`: the cookie must equal this value to select the canary "
    "(instead of `always`).",
    origin="mse",
)
WEIGHT = Field(
    "canary-weight",
    count,
    default=0,
    value_format="whole number, 0 to `canary-weight-total`",
    doc="Share of the remaining requests sent to the canary at random: weight / total.",
)
WEIGHT_TOTAL = Field(
    "canary-weight-total",
    count,
    default=100,
    value_format="whole number",
    doc="Denominator of `canary-weight`. As in ingress-nginx, values below 100 count as 100 "
    "(a warning says so).",
)

FIELDS: tuple[Field, ...] = (
    CANARY,
    BY_HEADER,
    BY_HEADER_VALUE,
    BY_HEADER_PATTERN,
    BY_QUERY,
    BY_QUERY_VALUE,
    BY_QUERY_PATTERN,
    BY_COOKIE,
    BY_COOKIE_VALUE,
    WEIGHT,
    WEIGHT_TOTAL,
)
_SELECTORS = FIELDS[1:]


@dataclass(frozen=True, slots=True)
class Selector:
    """One request attribute that can pick the canary: a header, query parameter or cookie."""

    name: str
    value: str | None = None
    """Exact value that selects the canary; None for the `always`/`never` words."""
    pattern: re.Pattern[str] | None = None
    """Searched in the value when `value` is None; None for the `always`/`never` words."""

    def verdict(self, actual: str) -> bool | None:
        """True → canary, False → never this canary, None → let the next selector decide."""
        if self.value is not None:
            return True if actual == self.value else None
        if self.pattern is not None:
            return True if self.pattern.search(actual) else None
        if actual == "always":
            return True
        if actual == "never":
            return False
        return None


@dataclass(frozen=True, slots=True)
class Canary:
    """The canary settings of one Ingress."""

    header: Selector | None = None
    query: Selector | None = None
    cookie: Selector | None = None
    weight: int = 0
    weight_total: int = 100
    """The denominator in effect (at least 100, as ingress-nginx's balancer reads it)."""

    @property
    def share(self) -> float:
        """Fraction of otherwise undecided requests this canary asks for."""
        return min(self.weight, self.weight_total) / self.weight_total


def _selector(
    annotations: Mapping[str, str], name: Field, value: Field, pattern: Field | None
) -> Selector | None:
    selected = value_of(annotations, name)
    if selected is None:
        return None
    assert isinstance(selected, str)
    exact = value_of(annotations, value)
    regex = value_of(annotations, pattern) if pattern is not None and exact is None else None
    assert exact is None or isinstance(exact, str)
    assert regex is None or isinstance(regex, re.Pattern)
    return Selector(selected, exact, regex)


def parse(annotations: Mapping[str, str]) -> Canary | None:
    """The canary settings, or None when the Ingress is not a canary."""
    enabled = value_of(annotations, CANARY)
    assert isinstance(enabled, bool)
    if not enabled:
        return None
    weight = value_of(annotations, WEIGHT)
    total = value_of(annotations, WEIGHT_TOTAL)
    assert isinstance(weight, int) and isinstance(total, int)
    return Canary(
        header=_selector(annotations, BY_HEADER, BY_HEADER_VALUE, BY_HEADER_PATTERN),
        query=_selector(annotations, BY_QUERY, BY_QUERY_VALUE, BY_QUERY_PATTERN),
        cookie=_selector(annotations, BY_COOKIE, BY_COOKIE_VALUE, None),
        weight=weight,
        weight_total=max(total, 100),
    )


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """Canary keys that are valid but do not do what they seem to."""
    out: list[AnnotationError] = []

    def warn(field: Field, reason: str) -> None:
        found = find(annotations, field.name)
        assert found is not None
        out.append(AnnotationError(found[0], reason))

    try:
        enabled = value_of(annotations, CANARY)
    except AnnotationError:
        return out  # reported as an error by `parse`
    if not enabled:
        for field in _SELECTORS:
            if is_set(annotations, field):
                warn(field, 'has no effect: this Ingress is not a canary (canary is not "true")')
        return out
    for value, name in (
        (BY_HEADER_VALUE, BY_HEADER),
        (BY_HEADER_PATTERN, BY_HEADER),
        (BY_QUERY_VALUE, BY_QUERY),
        (BY_QUERY_PATTERN, BY_QUERY),
        (BY_COOKIE_VALUE, BY_COOKIE),
    ):
        if is_set(annotations, value) and not is_set(annotations, name):
            warn(value, f"has no effect without {name.name}")
    for pattern, value in (
        (BY_HEADER_PATTERN, BY_HEADER_VALUE),
        (BY_QUERY_PATTERN, BY_QUERY_VALUE),
    ):
        if is_set(annotations, pattern) and is_set(annotations, value):
            warn(pattern, f"is ignored because {value.name} is set")
    try:
        weight = value_of(annotations, WEIGHT)
        total = value_of(annotations, WEIGHT_TOTAL)
    except AnnotationError:
        return out  # reported as an error by `parse`
    assert isinstance(weight, int) and isinstance(total, int)
    if is_set(annotations, WEIGHT_TOTAL) and total < 100:
        warn(
            WEIGHT_TOTAL,
            f"{total} is below 100 and counts as 100, as in ingress-nginx "
            f"(MSE would honour it): canary-weight {weight} means {weight}%",
        )
    if weight > max(total, 100):
        warn(WEIGHT, f"{weight} is above the total {max(total, 100)}: every request is canaried")
    return out
