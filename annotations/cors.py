"""CORS: the gateway answers browsers' cross-origin checks for the Ingress (reference §1C).

As ingress-nginx renders `enable-cors`: a request whose `Origin` is allowed gets
`Access-Control-Allow-Origin` (the request's origin, or the literal `*` when every origin is
allowed) and the other `Access-Control-*` headers on whatever answer it receives, the pod's or
the gateway's own; an `OPTIONS` request with an allowed origin (any `OPTIONS` when every
origin is allowed) is a preflight, answered 204 by the gateway without reaching the pod, with
no `Access-Control-Request-Method` check. A request from another origin is proxied without
CORS headers, so the browser refuses the answer.

Two choices go beyond ingress-nginx, both documented in docs/security.md: `Vary: Origin` is
sent whenever the answer depends on the origin (an origin list rather than `*`), so a shared
cache cannot hand one origin's answer to another; and an origin entry that is not a valid
origin refuses the Ingress version (DESIGN invariant 4), where ingress-nginx drops the entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, is_set, typed_value
from annotations._validators import Validator, boolean, count

ANY_ORIGIN = "*"

_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<wildcard>\*\.)?"
    r"(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?P<port>:[0-9]{1,5})?",
    re.IGNORECASE,
)
_METHOD = re.compile(r"[A-Za-z]+")
_HEADER = re.compile(r"[A-Za-z0-9_-]+|\*")


def origins(raw: str) -> tuple[str, ...]:
    """Origins as `scheme://host[:port]`, with `*.` for one level of subdomain, `null`, or
    `*` for every origin."""
    out = []
    for part in raw.split(","):
        item = part.strip()
        if not item:
            continue
        if item not in (ANY_ORIGIN, "null") and not _ORIGIN.fullmatch(item):
            raise ValueError(
                f"{item!r} is not an origin (scheme://host[:port], scheme://*.domain, null or *)"
            )
        out.append(item.lower())
    if not out:
        raise ValueError("is an empty list")
    return tuple(out)


def _token_list(pattern: re.Pattern[str], what: str) -> Validator:
    def validate(raw: str) -> str:
        items = [item.strip() for item in raw.split(",") if item.strip()]
        for item in items:
            if not pattern.fullmatch(item):
                raise ValueError(f"{item!r} is not {what}")
        if not items:
            raise ValueError("is an empty list")
        return ", ".join(items)

    validate.__doc__ = f"A comma list of {what}s."
    return validate


methods = _token_list(_METHOD, "an HTTP method")
header_names = _token_list(_HEADER, "a header name or *")

ENABLE = Field(
    "enable-cors",
    boolean,
    default=False,
    value_format="boolean",
    doc="Add CORS headers to answers for allowed origins and answer their preflight "
    "`OPTIONS` requests with 204.",
)
ALLOW_ORIGIN = Field(
    "cors-allow-origin",
    origins,
    default=(ANY_ORIGIN,),
    value_format="comma list of `scheme://host[:port]`, `scheme://*.domain[:port]`, `null`, `*`",
    doc="Origins allowed; with a list the request's origin is echoed and `Vary: Origin` is "
    "added, with `*` the literal `*` is sent on every answer. Default `*`.",
)
ALLOW_METHODS = Field(
    "cors-allow-methods",
    methods,
    default="GET, PUT, POST, DELETE, PATCH, OPTIONS",
    value_format="comma list of methods",
    doc="`Access-Control-Allow-Methods`.",
)
ALLOW_HEADERS = Field(
    "cors-allow-headers",
    header_names,
    default="DNT, Keep-Alive, User-Agent, X-Requested-With, If-Modified-Since, Cache-Control, "
    "Content-Type, Range, Authorization",
    value_format="comma list of header names",
    doc="`Access-Control-Allow-Headers`.",
)
EXPOSE_HEADERS = Field(
    "cors-expose-headers",
    header_names,
    default="",
    value_format="comma list of header names, or `*`",
    doc="`Access-Control-Expose-Headers`; not sent when unset.",
)
ALLOW_CREDENTIALS = Field(
    "cors-allow-credentials",
    boolean,
    default=True,
    value_format="boolean",
    doc="Send `Access-Control-Allow-Credentials: true`. Default true, as ingress-nginx.",
)
MAX_AGE = Field(
    "cors-max-age",
    count,
    default=1728000,
    value_format="seconds",
    doc="`Access-Control-Max-Age`: how long browsers may cache a preflight's answer.",
)

FIELDS: tuple[Field, ...] = (
    ENABLE,
    ALLOW_ORIGIN,
    ALLOW_METHODS,
    ALLOW_HEADERS,
    EXPOSE_HEADERS,
    ALLOW_CREDENTIALS,
    MAX_AGE,
)


@dataclass(frozen=True, slots=True)
class Cors:
    """The CORS policy of one Ingress."""

    origins: tuple[str, ...]
    """The allowed origins as written (lower case); `("*",)` allows every origin."""
    allowed: re.Pattern[str] | None
    """Full-match, case-insensitive pattern of the allowed origins; None for any origin."""
    lines: bytes
    """The `Access-Control-*` header lines after `Access-Control-Allow-Origin`, the same on
    every answer of this policy (CRLF-terminated)."""

    def allows(self, origin: str) -> bool:
        """Whether a request from `origin` gets CORS headers."""
        return self.allowed is None or self.allowed.fullmatch(origin) is not None


def parse(annotations: Mapping[str, str]) -> Cors | None:
    """The policy, or None when CORS is off (every CORS key is still validated)."""
    listed = typed_value(annotations, ALLOW_ORIGIN, tuple)
    allow_methods = typed_value(annotations, ALLOW_METHODS, str)
    allow_headers = typed_value(annotations, ALLOW_HEADERS, str)
    expose = typed_value(annotations, EXPOSE_HEADERS, str)
    credentials = typed_value(annotations, ALLOW_CREDENTIALS, bool)
    max_age = typed_value(annotations, MAX_AGE, int)
    if not is_set(annotations, ENABLE) or not typed_value(annotations, ENABLE, bool):
        return None
    lines = []
    if credentials:
        lines.append("Access-Control-Allow-Credentials: true")
    lines.append(f"Access-Control-Allow-Methods: {allow_methods}")
    lines.append(f"Access-Control-Allow-Headers: {allow_headers}")
    if expose:
        lines.append(f"Access-Control-Expose-Headers: {expose}")
    lines.append(f"Access-Control-Max-Age: {max_age}")
    encoded = "".join(line + "\r\n" for line in lines).encode("latin-1")
    if ANY_ORIGIN in listed:
        return Cors((ANY_ORIGIN,), None, encoded)
    return Cors(listed, re.compile("|".join(map(_origin_pattern, listed)), re.IGNORECASE), encoded)


def _origin_pattern(origin: str) -> str:
    """One origin as a regex: literal, except that `*.` stands for one DNS label."""
    found = _ORIGIN.fullmatch(origin)
    if found is None or not found.group("wildcard"):
        return re.escape(origin)
    scheme, host, port = found.group("scheme"), found.group("host"), found.group("port") or ""
    return f"{re.escape(scheme)}://[a-z0-9-]+\\.{re.escape(host)}{re.escape(port)}"
