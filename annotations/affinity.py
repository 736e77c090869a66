"""Session affinity: `affinity: cookie` and the `session-cookie-*` keys (reference §1F, §3.1).

The first request of a client gets an endpoint and a cookie that names it; later requests that
carry the cookie go back to that endpoint while it is ready. `affinity-mode` says what happens
when endpoints are added: `balanced` (the default) keeps the cookie's key on a consistent-hash
ring, so about 1/n of sessions move to a new pod; `persistent` names the pod itself, so
sessions never move while their pod lives. Either way a cookie naming a pod that left moves the
client to a live one.

Turning affinity on: `affinity: cookie`, as in ingress-nginx. Higress also turns it on when only
`session-cookie-name` or `-path` is set; we do that when those keys carry the `mse.` or
`higress.io/` prefix, so an nginx-prefixed Ingress means what it meant under ingress-nginx.

`affinity-canary-behavior` is read from a canary Ingress: `sticky` (the default) gives the canary
the primary's cookie settings, so a client pinned to the canary stays on it; `legacy` does not,
and each request is shaped by the canary rules again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import (
    NGINX_PREFIX,
    Field,
    find,
    is_set,
    optional_value,
    typed_value,
    value_of,
)
from annotations._validators import boolean, count, one_of, text
from annotations.errors import AnnotationError

MODES = ("balanced", "persistent")
CANARY_BEHAVIORS = ("sticky", "legacy")
SAMESITE = {"none": "None", "lax": "Lax", "strict": "Strict"}

# RFC 6265 cookie-name: an RFC 7230 token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _cookie_kind(raw: str) -> str:
    value = raw.strip()
    if value != "cookie":
        raise ValueError(f'{raw!r} is not supported (the only affinity is "cookie")')
    return value


def _cookie_name(raw: str) -> str:
    value = raw.strip()
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{raw!r} is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)")
    return value


def _cookie_attribute(raw: str) -> str:
    """A `Path` or `Domain` value: text without `;`, `,` or blanks, which would end it."""
    value = text(raw)
    if any(ch in value for ch in ";, \t"):
        raise ValueError(f"{value!r} contains ';', ',' or a blank")
    return value


def _cookie_path(raw: str) -> str:
    value = _cookie_attribute(raw)
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must start with '/'")
    return value


def _samesite(raw: str) -> str:
    value = SAMESITE.get(raw.strip().lower())
    if value is None:
        raise ValueError(f"{raw!r} is not one of None, Lax, Strict")
    return value


AFFINITY = Field(
    "affinity",
    _cookie_kind,
    default=None,
    value_format="`cookie`",
    doc="Sticky sessions: a client's requests keep going to the endpoint its cookie names.",
)
MODE = Field(
    "affinity-mode",
    one_of(*MODES),
    default="balanced",
    value_format="`balanced` or `persistent`",
    doc="`balanced`: when pods are added, about 1/n of sessions move to them; `persistent`: "
    "sessions stay on their pod as long as it is ready.",
)
CANARY_BEHAVIOR = Field(
    "affinity-canary-behavior",
    one_of(*CANARY_BEHAVIORS),
    default="sticky",
    value_format="`sticky` or `legacy`",
    doc="On a canary Ingress: `sticky` gives the canary the primary's affinity cookie, so a "
    "client sent to the canary stays there; `legacy` chooses again on every request.",
)
COOKIE_NAME = Field(
    "session-cookie-name",
    _cookie_name,
    default="INGRESSCOOKIE",
    value_format="cookie name",
    doc="Name of the affinity cookie. With the `mse.`/`higress.io/` prefix it also turns "
    "affinity on (Higress).",
)
COOKIE_PATH = Field(
    "session-cookie-path",
    _cookie_path,
    default=None,
    value_format="path starting with `/`",
    doc="`Path` of the cookie; default: the Ingress path (`/` for regex paths). With the "
    "`mse.`/`higress.io/` prefix it also turns affinity on (Higress).",
)
COOKIE_DOMAIN = Field(
    "session-cookie-domain",
    _cookie_attribute,
    default=None,
    value_format="domain",
    doc="`Domain` of the cookie; default: none (the request's host only).",
)
COOKIE_MAX_AGE = Field(
    "session-cookie-max-age",
    count,
    default=None,
    value_format="seconds",
    doc="`Max-Age` of the cookie; default: a session cookie.",
)
COOKIE_EXPIRES = Field(
    "session-cookie-expires",
    count,
    default=None,
    value_format="seconds",
    doc="`Expires` of the cookie, this many seconds after the response; default: a session cookie.",
)
COOKIE_SAMESITE = Field(
    "session-cookie-samesite",
    _samesite,
    default=None,
    value_format="`None`, `Lax` or `Strict`",
    doc="`SameSite` of the cookie; default: not set.",
)
CONDITIONAL_SAMESITE_NONE = Field(
    "session-cookie-conditional-samesite-none",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Leave out `SameSite=None` for browsers known to reject it (Chrome 51-66, iOS 12, "
    "Safari on macOS 10.14, old UC Browser).",
)
COOKIE_SECURE = Field(
    "session-cookie-secure",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Mark the cookie `Secure` (it always is on HTTPS requests).",
)
CHANGE_ON_FAILURE = Field(
    "session-cookie-change-on-failure",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="When the cookie's endpoint fails and the request is retried elsewhere, point the "
    "cookie at the endpoint that answered; otherwise the session stays with its endpoint.",
)

_COOKIE_FIELDS = (
    COOKIE_NAME,
    COOKIE_PATH,
    COOKIE_DOMAIN,
    COOKIE_MAX_AGE,
    COOKIE_EXPIRES,
    COOKIE_SAMESITE,
    CONDITIONAL_SAMESITE_NONE,
    COOKIE_SECURE,
    CHANGE_ON_FAILURE,
)
FIELDS: tuple[Field, ...] = (AFFINITY, MODE, CANARY_BEHAVIOR, *_COOKIE_FIELDS)


@dataclass(frozen=True, slots=True)
class AffinityCookie:
    """How sticky sessions are kept: the mode and the cookie's attributes."""

    mode: str = "balanced"
    name: str = "INGRESSCOOKIE"
    path: str | None = None
    """None: the route's path (`/` for regex routes)."""
    domain: str | None = None
    max_age: int | None = None
    expires: int | None = None
    samesite: str | None = None
    conditional_samesite_none: bool = False
    secure: bool = False
    change_on_failure: bool = False


@dataclass(frozen=True, slots=True)
class Affinity:
    """One Ingress's affinity settings."""

    cookie: AffinityCookie | None = None
    """None: no sticky sessions on this Ingress's routes."""
    canary_behavior: str = "sticky"
    """On a canary Ingress without its own `cookie`: whether it takes the primary's."""


def _turned_on(annotations: Mapping[str, str]) -> bool:
    """Whether affinity is asked for (validity is `parse`'s business: this never raises)."""
    if find(annotations, AFFINITY.name) is not None:
        return True
    for field in (COOKIE_NAME, COOKIE_PATH):
        found = find(annotations, field.name)
        if found is not None and not found[0].startswith(NGINX_PREFIX):
            return True  # Higress: these keys alone turn affinity on
    return False


def parse(annotations: Mapping[str, str]) -> Affinity | None:
    """The affinity settings, or None when no key of this group is set."""
    if not is_set(annotations, *FIELDS):
        return None
    behavior = typed_value(annotations, CANARY_BEHAVIOR, str)
    value_of(annotations, AFFINITY)  # validates: `cookie` is the only kind
    if not _turned_on(annotations):
        return Affinity(None, behavior)
    cookie = AffinityCookie(
        mode=typed_value(annotations, MODE, str),
        name=typed_value(annotations, COOKIE_NAME, str),
        path=optional_value(annotations, COOKIE_PATH, str),
        domain=optional_value(annotations, COOKIE_DOMAIN, str),
        max_age=optional_value(annotations, COOKIE_MAX_AGE, int),
        expires=optional_value(annotations, COOKIE_EXPIRES, int),
        samesite=optional_value(annotations, COOKIE_SAMESITE, str),
        conditional_samesite_none=typed_value(annotations, CONDITIONAL_SAMESITE_NONE, bool),
        secure=typed_value(annotations, COOKIE_SECURE, bool),
        change_on_failure=typed_value(annotations, CHANGE_ON_FAILURE, bool),
    )
    return Affinity(cookie, behavior)


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """Cookie settings without affinity do nothing."""
    if not is_set(annotations, *FIELDS) or _turned_on(annotations):
        return []
    return [
        AnnotationError(found[0], "has no effect without affinity: cookie")
        for field in (MODE, *_COOKIE_FIELDS)
        if (found := find(annotations, field.name)) is not None
    ]
