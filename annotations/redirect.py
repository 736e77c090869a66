"""Redirects the gateway answers itself: permanent/temporal redirects, app-root, from/to www.

nginx renders `permanent-redirect` and `temporal-redirect` as ``return <code> <url>;`` in the
location, so the URL may use nginx variables; the ones a redirect needs are supported
(`$scheme`, `$host`, `$http_host`, `$server_port`, `$request_uri`, `$uri`, `$args`,
`$query_string`, `$is_args`), in `$name` or `${name}` form, and any other is refused by name.
`temporal-redirect` wins when both are set. `app-root` answers a request for exactly `/` with
302 to the application's root path (the query string is kept). `from-to-www-redirect` makes the
other spelling of each rule host (`www.` added or removed) redirect to the rule host.

`ssl-redirect`, `force-ssl-redirect` and `preserve-trailing-slash` send plain-HTTP requests
to `https://`; unset, each takes the ConfigMap key of the same name (ingress-nginx's rule).
The decision needs the request's scheme and whether the host has TLS, so it is made per
request (`gateway.proxy.policies`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from annotations._fields import Field, is_set, value_of
from annotations._validators import boolean, count, text, uri_path

VARIABLES = frozenset(
    {
        "scheme",
        "host",
        "http_host",
        "server_port",
        "request_uri",
        "uri",
        "args",
        "query_string",
        "is_args",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}
"""The port a URL of each scheme means when it names none."""
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True, slots=True)
class UrlTemplate:
    """A redirect URL split into literal text and nginx variables, expanded per request."""

    parts: tuple[tuple[str, str | None], ...]
    """(literal text, variable name or None), in order."""

    def expand(self, variable: Callable[[str], str]) -> str:
        """The URL for one request; `variable` gives the value of a supported variable."""
        return "".join(text + (variable(name) if name else "") for text, name in self.parts)

    @property
    def text(self) -> str:
        """The template as written (normalised to `$name`)."""
        return "".join(text + (f"${name}" if name else "") for text, name in self.parts)


def url_template(raw: str) -> UrlTemplate:
    """An absolute http(s) URL, possibly with the supported nginx variables."""
    value = text(raw)
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} contains white space")
    if not re.match(r"^(https?://[^/?#$]+|\$scheme://)", value):
        raise ValueError(f"{value!r} is not an absolute URL starting with http:// or https://")
    return template(value)


def template(value: str) -> UrlTemplate:
    """Text with the supported nginx variables (`$name` or `${name}`); any other is refused."""
    parts: list[tuple[str, str | None]] = []
    end = 0
    for found in _VARIABLE.finditer(value):
        name = found.group(1) or found.group(2)
        if name not in VARIABLES:
            supported = ", ".join(f"${v}" for v in sorted(VARIABLES))
            raise ValueError(f"uses the nginx variable ${name}; supported: {supported}")
        parts.append((value[end : found.start()], name))
        end = found.end()
    if "$" in value[end:]:
        raise ValueError(f"{value!r} has a '$' that starts no variable")
    parts.append((value[end:], None))
    return UrlTemplate(tuple(parts))


def _root_path(raw: str) -> str:
    """A path starting with `/`, without white space or variables."""
    value = uri_path(raw)
    if not value.startswith("/") or "$" in value:
        raise ValueError(f"{value!r} must be a plain path starting with '/'")
    return value


def _status(low: int, high: int) -> Callable[[str], int]:
    def validator(raw: str) -> int:
        code = count(raw)
        if not low <= code <= high:
            raise ValueError(f"{code} is not a redirect status ({low} to {high})")
        return code

    validator.__doc__ = f"An HTTP status from {low} to {high}."
    return validator


PERMANENT = Field(
    "permanent-redirect",
    url_template,
    default=None,
    value_format="absolute URL; may use `$request_uri`, `$host`, `$scheme`, …",
    doc="Answer every request of this Ingress with a redirect to this URL instead of proxying.",
)
PERMANENT_CODE = Field(
    "permanent-redirect-code",
    _status(300, 308),
    default=301,
    value_format="status 300-308",
    doc="Status of the `permanent-redirect` answer.",
)
TEMPORAL = Field(
    "temporal-redirect",
    url_template,
    default=None,
    value_format="absolute URL; may use `$request_uri`, `$host`, `$scheme`, …",
    doc="Like `permanent-redirect` with status 302; wins when both are set.",
)
TEMPORAL_CODE = Field(
    "temporal-redirect-code",
    _status(300, 307),
    default=302,
    value_format="status 300-307",
    doc="Status of the `temporal-redirect` answer.",
    origin="nginx",
)
APP_ROOT = Field(
    "app-root",
    _root_path,
    default=None,
    value_format="path",
    doc="Answer a request for exactly `/` with 302 to this path (query string kept).",
)
FROM_TO_WWW = Field(
    "from-to-www-redirect",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Redirect `www.<host>` to `<host>` (or `<host>` to `www.<host>` when the rule host "
    "starts with `www.`), with `http-redirect-code` (308), unless some rule serves that name.",
    origin="nginx",
)
USE_PORT = Field(
    "use-port-in-redirects",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="In the redirects the gateway builds (`app-root`, `from-to-www-redirect`), write the "
    "host with the port the request arrived on instead of the Host header as sent.",
    origin="nginx",
)
RELATIVE = Field(
    "relative-redirects",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Write the `app-root` redirect as a path only (`Location: /app`), as nginx's "
    "`absolute_redirect off`.",
    origin="nginx",
)

SSL_REDIRECT = Field(
    "ssl-redirect",
    boolean,
    default=None,
    value_format='"true" or "false"',
    doc="Redirect plain-HTTP requests to `https://` when the host has TLS (some served "
    "Ingress names it in `spec.tls`). Unset: the ConfigMap's `ssl-redirect` (true).",
    origin="nginx+mse",
)
FORCE_SSL_REDIRECT = Field(
    "force-ssl-redirect",
    boolean,
    default=None,
    value_format='"true" or "false"',
    doc="Redirect plain-HTTP requests to `https://` even when the host has no TLS here (TLS "
    "ends at a load balancer in front). Unset: the ConfigMap's `force-ssl-redirect` (false).",
    origin="nginx+mse",
)
PRESERVE_TRAILING_SLASH = Field(
    "preserve-trailing-slash",
    boolean,
    default=None,
    value_format='"true" or "false"',
    doc="Keep a trailing `/` in the HTTPS redirect (nginx drops it: `/a/` goes to `/a`). "
    "Unset: the ConfigMap's `preserve-trailing-slash` (false).",
    origin="nginx",
)

FIELDS: tuple[Field, ...] = (
    PERMANENT,
    PERMANENT_CODE,
    TEMPORAL,
    TEMPORAL_CODE,
    APP_ROOT,
    FROM_TO_WWW,
    USE_PORT,
    RELATIVE,
    SSL_REDIRECT,
    FORCE_SSL_REDIRECT,
    PRESERVE_TRAILING_SLASH,
)


@dataclass(frozen=True, slots=True)
class Redirect:
    """A redirect answered instead of proxying."""

    code: int | None
    """The status; None for the ConfigMap's `http-redirect-code` (308 by default)."""
    location: UrlTemplate


@dataclass(frozen=True, slots=True)
class Redirects:
    """The redirect settings of one Ingress."""

    redirect: Redirect | None = None
    app_root: str | None = None
    from_to_www: bool = False
    use_port: bool = False
    relative: bool = False
    ssl_redirect: bool | None = None
    """None: the ConfigMap's `ssl-redirect`; likewise for the next two."""
    force_ssl_redirect: bool | None = None
    preserve_trailing_slash: bool | None = None


def parse(annotations: Mapping[str, str]) -> Redirects | None:
    """The redirect settings, or None when no key of this group is set."""
    if not is_set(annotations, *FIELDS):
        return None

    # Every key is validated, also those the chosen redirect does not use.
    values = {field.name: value_of(annotations, field) for field in FIELDS}

    def get(field: Field) -> Any:
        return values[field.name]

    redirect = None
    temporal, permanent = get(TEMPORAL), get(PERMANENT)
    if temporal is not None:
        redirect = Redirect(get(TEMPORAL_CODE), temporal)
    elif permanent is not None:
        redirect = Redirect(get(PERMANENT_CODE), permanent)
    return Redirects(
        redirect=redirect,
        app_root=get(APP_ROOT),
        from_to_www=get(FROM_TO_WWW),
        use_port=get(USE_PORT),
        relative=get(RELATIVE),
        ssl_redirect=get(SSL_REDIRECT),
        force_ssl_redirect=get(FORCE_SSL_REDIRECT),
        preserve_trailing_slash=get(PRESERVE_TRAILING_SLASH),
    )
