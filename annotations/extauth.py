"""External authentication: a service decides whether each request may pass (reference §1,
ingress-nginx's `auth_request`).

Before a request of the Ingress is proxied, the gateway asks `auth-url` with the request's
headers and no body. A 2xx answer lets the request through, carrying the headers listed in
`auth-response-headers` from the answer to the pod; 401 and 403 refuse it (a 401 becomes a
302 to `auth-signin` when set); anything else, a timeout or an unreachable service answers
500. `auth-cache-key` remembers answers per key for `auth-cache-duration`.

`auth-keepalive-share-vars` is accepted for compatibility and does nothing: it shares nginx
variables between the sub-request and the request, and the gateway keeps none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, optional_value, typed_value
from annotations._validators import boolean, count, object_reference, one_of, seconds, text
from annotations.balancing import Part, hash_template
from annotations.errors import AnnotationError
from annotations.headers import TOKEN
from annotations.redirect import UrlTemplate, url_template

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
DEFAULT_CACHED = frozenset({200, 301, 302})
"""Statuses an `auth-cache-duration` entry without codes caches (nginx's proxy_cache_valid)."""


def _header_names(raw: str) -> tuple[str, ...]:
    """A comma list of header names."""
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    for name in names:
        if not TOKEN.match(name):
            raise ValueError(f"{name!r} is not a header name")
    if not names:
        raise ValueError("is an empty list")
    return names


_DURATION_ENTRY = re.compile(r"((?:[1-5][0-9][0-9]\s+)*)([0-9]+(?:ms|s|m|h|d)?)")


def cache_durations(raw: str) -> tuple[tuple[frozenset[int], float], ...]:
    """nginx's `proxy_cache_valid` lists, comma-separated: `200 202 401 5m`, `10m, 401 1m`."""
    out = []
    for part in raw.split(","):
        entry = part.strip()
        found = _DURATION_ENTRY.fullmatch(entry)
        if found is None:
            raise ValueError(f"{entry!r} is not status codes followed by a time, e.g. 200 202 5m")
        codes = frozenset(int(code) for code in found.group(1).split())
        time = found.group(2)
        duration = int(time[:-1]) * 86400.0 if time.endswith("d") else seconds(time)
        out.append((codes or DEFAULT_CACHED, duration))
    return tuple(out)


def _signin_param(raw: str) -> str:
    value = text(raw)
    if not re.fullmatch(r"[A-Za-z0-9_.~-]+", value):
        raise ValueError(f"{value!r} is not a query parameter name")
    return value


URL = Field(
    "auth-url",
    url_template,
    default=None,
    value_format="absolute http(s) URL; may use `$host`, `$request_uri`, …",
    doc="Ask this service before proxying each request: 2xx lets it through, 401/403 refuse "
    "it, anything else answers 500.",
)
METHOD = Field(
    "auth-method",
    one_of(*METHODS),
    default="GET",
    value_format="HTTP method",
    doc="Method of the request to `auth-url` (GET by default, as nginx's sub-requests).",
)
SIGNIN = Field(
    "auth-signin",
    url_template,
    default=None,
    value_format="absolute http(s) URL",
    doc="Send clients the auth service refused with 401 here (302), with the URL they asked "
    "for in `auth-signin-redirect-param`.",
)
SIGNIN_PARAM = Field(
    "auth-signin-redirect-param",
    _signin_param,
    default="rd",
    value_format="query parameter name",
    doc="The `auth-signin` query parameter that carries the original URL.",
)
RESPONSE_HEADERS = Field(
    "auth-response-headers",
    _header_names,
    default=(),
    value_format="comma list of header names",
    doc="Headers copied from the auth service's answer to the request sent to the pod "
    "(replacing what the client sent under those names).",
)
REQUEST_REDIRECT = Field(
    "auth-request-redirect",
    text,
    default=None,
    value_format="URL",
    doc="The `X-Auth-Request-Redirect` header sent to `auth-url` (default: the request URI).",
)
PROXY_SET_HEADERS = Field(
    "auth-proxy-set-headers",
    object_reference("ConfigMap"),
    default=None,
    value_format="ConfigMap `name` or `namespace/name`",
    doc="A ConfigMap of headers (name: value) added to the request to `auth-url`.",
)
CACHE_KEY = Field(
    "auth-cache-key",
    hash_template,
    default=None,
    value_format="text with nginx variables, e.g. `$http_authorization`",
    doc="Remember the auth service's answers per value of this key (it must contain a "
    "variable, or every client would share one answer).",
)
CACHE_DURATION = Field(
    "auth-cache-duration",
    cache_durations,
    default=((frozenset({200, 202, 401}), 300.0),),
    value_format="status codes and a time, e.g. `200 202 401 5m`",
    doc="Which answers `auth-cache-key` remembers, and for how long.",
)
ALWAYS_SET_COOKIE = Field(
    "auth-always-set-cookie",
    boolean,
    default=False,
    value_format="boolean",
    doc="Pass the auth service's `Set-Cookie` to the client on every answer, refusals "
    "included; by default only with successful and redirect answers.",
)
KEEPALIVE = Field(
    "auth-keepalive",
    count,
    default=0,
    value_format="connections",
    doc="Idle connections to `auth-url` kept open for reuse (0: a connection per check).",
)
KEEPALIVE_REQUESTS = Field(
    "auth-keepalive-requests",
    count,
    default=1000,
    value_format="requests",
    doc="Requests one kept-alive connection to `auth-url` serves before it is closed.",
)
KEEPALIVE_TIMEOUT = Field(
    "auth-keepalive-timeout",
    seconds,
    default=60.0,
    value_format="seconds",
    doc="How long an idle connection to `auth-url` is kept.",
)
KEEPALIVE_SHARE_VARS = Field(
    "auth-keepalive-share-vars",
    boolean,
    default=False,
    value_format="boolean",
    doc="Accepted for compatibility; no effect (the gateway keeps no nginx variables).",
)

FIELDS: tuple[Field, ...] = (
    URL,
    METHOD,
    SIGNIN,
    SIGNIN_PARAM,
    RESPONSE_HEADERS,
    REQUEST_REDIRECT,
    PROXY_SET_HEADERS,
    CACHE_KEY,
    CACHE_DURATION,
    ALWAYS_SET_COOKIE,
    KEEPALIVE,
    KEEPALIVE_REQUESTS,
    KEEPALIVE_TIMEOUT,
    KEEPALIVE_SHARE_VARS,
)


@dataclass(frozen=True, slots=True)
class ExternalAuth:
    """The external authentication of one Ingress."""

    url: UrlTemplate
    method: str = "GET"
    signin: UrlTemplate | None = None
    signin_param: str = "rd"
    response_headers: tuple[str, ...] = ()
    request_redirect: str | None = None
    proxy_set_headers: tuple[str | None, str] | None = None
    """(namespace or None for the Ingress's, name) of the ConfigMap."""
    cache_key: tuple[Part, ...] | None = None
    cache_durations: tuple[tuple[frozenset[int], float], ...] = ()
    always_set_cookie: bool = False
    keepalive: int = 0
    keepalive_requests: int = 1000
    keepalive_timeout: float = 60.0

    def cache_seconds(self, status: int) -> float:
        """How long an answer with `status` is remembered (0: not at all)."""
        if self.cache_key is None:
            return 0.0
        for codes, duration in self.cache_durations:
            if status in codes:
                return duration
        return 0.0


def parse(annotations: Mapping[str, str]) -> ExternalAuth | None:
    """The settings, or None without `auth-url` (every key is still validated)."""
    values = {field.name: optional_value(annotations, field, object) for field in FIELDS}
    url = values[URL.name]
    if url is None:
        return None
    assert isinstance(url, UrlTemplate)
    signin = values[SIGNIN.name]
    assert signin is None or isinstance(signin, UrlTemplate)
    return ExternalAuth(
        url=url,
        method=typed_value(annotations, METHOD, str),
        signin=signin,
        signin_param=typed_value(annotations, SIGNIN_PARAM, str),
        response_headers=typed_value(annotations, RESPONSE_HEADERS, tuple),
        request_redirect=optional_value(annotations, REQUEST_REDIRECT, str),
        proxy_set_headers=optional_value(annotations, PROXY_SET_HEADERS, tuple),
        cache_key=optional_value(annotations, CACHE_KEY, tuple),
        cache_durations=typed_value(annotations, CACHE_DURATION, tuple),
        always_set_cookie=typed_value(annotations, ALWAYS_SET_COOKIE, bool),
        keepalive=typed_value(annotations, KEEPALIVE, int),
        keepalive_requests=typed_value(annotations, KEEPALIVE_REQUESTS, int),
        keepalive_timeout=typed_value(annotations, KEEPALIVE_TIMEOUT, float),
    )


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """Settings that do nothing without `auth-url`."""
    if is_set(annotations, URL):
        return []
    return [
        AnnotationError(found[0], "has no effect without auth-url")
        for field in FIELDS[1:]
        if (found := find(annotations, field.name)) is not None
    ]
