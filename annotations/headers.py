"""Header control: what the gateway changes in the request to the pod and in its response.

Request side: `upstream-vhost` (the Host sent upstream), `connection-proxy-header` (the
Connection sent upstream), `x-forwarded-prefix`, and MSE's `request-header-control-remove`,
`-update` (overwrite) and `-add` (one more value), applied in that order as Envoy does.
Response side: MSE's `response-header-control-*` likewise, nginx's `custom-headers` (headers
from a ConfigMap, set on every response), `proxy-cookie-domain` / `proxy-cookie-path`
(rewrite `Set-Cookie` attributes) and `proxy-redirect-from` / `-to` (rewrite the start of
`Location` and `Refresh`).

Headers the gateway owns cannot be controlled: framing and hop-by-hop headers, `Host` (use
`upstream-vhost`), `X-Forwarded-*`, `X-Real-IP` and `X-Request-ID`. Naming one refuses the
Ingress version, so a rule never silently does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from annotations._fields import Field, Origin, find, is_set, value_of
from annotations._validators import Validator, text
from annotations.errors import AnnotationError

TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
OWNED = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-real-ip",
        "x-request-id",
    }
)


def header_name(raw: str) -> str:
    """A header name that the gateway lets annotations control."""
    name = raw.strip().strip("\"'")
    if not TOKEN.match(name):
        raise ValueError(f"{name!r} is not a valid header name")
    if name.lower() in OWNED:
        raise ValueError(f"{name} is set by the gateway and cannot be controlled here")
    return name


def header_value(raw: str) -> str:
    """A header value: no control characters (no header injection)."""
    value = raw.strip()
    if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{raw!r} contains control characters")
    return value


def header_lines(raw: str) -> tuple[tuple[str, str], ...]:
    """MSE's format: one ``Name Value`` per line; quotes around either are trimmed."""
    out = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"line {line.strip()!r} is not 'Name Value'")
        out.append((header_name(parts[0]), header_value(parts[1].strip().strip("\"'"))))
    if not out:
        raise ValueError("is empty")
    return tuple(out)


def header_names(raw: str) -> tuple[str, ...]:
    """A comma-separated list of header names."""
    names = tuple(header_name(n) for n in raw.split(",") if n.strip())
    if not names:
        raise ValueError("is an empty list")
    return names


def host(raw: str) -> str:
    """A host name with an optional port, as sent in `Host`."""
    value = text(raw)
    if not re.match(r"^[A-Za-z0-9._-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$", value):
        raise ValueError(f"{value!r} is not a host name (variables are not supported)")
    return value


def from_to(raw: str) -> tuple[str, str] | None:
    """``off`` (None) or ``FROM TO``, as nginx's `proxy_cookie_domain` / `proxy_cookie_path`."""
    value = text(raw)
    if value == "off":
        return None
    parts = value.split()
    if len(parts) != 2:
        raise ValueError(f"{value!r} is neither 'off' nor 'FROM TO'")
    return parts[0], parts[1]


def redirect_part(raw: str) -> str:
    """A URL prefix for `proxy-redirect-from` / `-to`; ``off`` turns rewriting off."""
    value = text(raw)
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} contains white space")
    return value


def configmap_ref(raw: str) -> tuple[str | None, str]:
    """``name`` (in the Ingress's namespace) or ``namespace/name``."""
    value = text(raw)
    namespace, slash, name = value.rpartition("/")
    pattern = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    if not pattern.match(name) or (slash and not pattern.match(namespace)):
        raise ValueError(f"{value!r} is not 'name' or 'namespace/name'")
    return (namespace or None), name


def _field(name: str, validator: Validator, value_format: str, doc: str, origin: Origin) -> Field:
    return Field(name, validator, None, doc, value_format, origin=origin)


UPSTREAM_VHOST = _field(
    "upstream-vhost", host, "host[:port]", "The `Host` header sent to the pod.", "nginx+mse"
)
CONNECTION = _field(
    "connection-proxy-header",
    header_value,
    "text",
    "The `Connection` header sent to the pod (e.g. `keep-alive`).",
    "nginx",
)
FORWARDED_PREFIX = _field(
    "x-forwarded-prefix",
    header_value,
    "text",
    "Sends `X-Forwarded-Prefix: <value>` to the pod (a client's own value is dropped).",
    "nginx",
)
REQUEST_ADD = _field(
    "request-header-control-add",
    header_lines,
    "`Name Value` per line",
    "Request headers added for the pod; a header already present gets one more value.",
    "mse",
)
REQUEST_UPDATE = _field(
    "request-header-control-update",
    header_lines,
    "`Name Value` per line",
    "Request headers set for the pod, replacing any the client sent.",
    "mse",
)
REQUEST_REMOVE = _field(
    "request-header-control-remove",
    header_names,
    "comma list of names",
    "Request headers removed before the request goes to the pod.",
    "mse",
)
RESPONSE_ADD = _field(
    "response-header-control-add",
    header_lines,
    "`Name Value` per line",
    "Response headers added for the client; a header already present gets one more value.",
    "mse",
)
RESPONSE_UPDATE = _field(
    "response-header-control-update",
    header_lines,
    "`Name Value` per line",
    "Response headers set for the client, replacing the pod's.",
    "mse",
)
RESPONSE_REMOVE = _field(
    "response-header-control-remove",
    header_names,
    "comma list of names",
    "Response headers removed before the response goes to the client.",
    "mse",
)
CUSTOM_HEADERS = _field(
    "custom-headers",
    configmap_ref,
    "`name` or `namespace/name` of a ConfigMap",
    "Every key of the ConfigMap is set as a response header (replacing the pod's). A missing "
    "ConfigMap is a warning and adds nothing.",
    "nginx",
)
COOKIE_DOMAIN = _field(
    "proxy-cookie-domain",
    from_to,
    "`off` or `FROM TO`",
    "Rewrites the `Domain` attribute of the pod's `Set-Cookie` headers from FROM to TO "
    "(case-insensitive, as nginx).",
    "nginx",
)
COOKIE_PATH = _field(
    "proxy-cookie-path",
    from_to,
    "`off` or `FROM TO`",
    "Rewrites a `Set-Cookie` `Path` attribute that starts with FROM: that start becomes TO.",
    "nginx",
)
REDIRECT_FROM = _field(
    "proxy-redirect-from",
    redirect_part,
    "URL prefix or `off`",
    "With `proxy-redirect-to`: a `Location` or `Refresh` header of the pod's response that "
    "starts with this text gets that start replaced.",
    "nginx",
)
REDIRECT_TO = _field(
    "proxy-redirect-to",
    redirect_part,
    "URL prefix",
    "The replacement for `proxy-redirect-from`.",
    "nginx",
)

FIELDS: tuple[Field, ...] = (
    UPSTREAM_VHOST,
    CONNECTION,
    FORWARDED_PREFIX,
    REQUEST_ADD,
    REQUEST_UPDATE,
    REQUEST_REMOVE,
    RESPONSE_ADD,
    RESPONSE_UPDATE,
    RESPONSE_REMOVE,
    CUSTOM_HEADERS,
    COOKIE_DOMAIN,
    COOKIE_PATH,
    REDIRECT_FROM,
    REDIRECT_TO,
)

Lines = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class HeaderControl:
    """The header settings of one Ingress, as written."""

    upstream_vhost: str | None = None
    connection: str | None = None
    forwarded_prefix: str | None = None
    request_add: Lines = ()
    request_update: Lines = ()
    request_remove: tuple[str, ...] = ()
    response_add: Lines = ()
    response_update: Lines = ()
    response_remove: tuple[str, ...] = ()
    custom_headers: tuple[str | None, str] | None = None
    """(namespace or None for the Ingress's, name) of the `custom-headers` ConfigMap."""
    cookie_domain: tuple[str, str] | None = None
    cookie_path: tuple[str, str] | None = None
    redirect: tuple[str, str] | None = None
    """(from, to) of `proxy-redirect-*`."""


def parse(annotations: Mapping[str, str]) -> HeaderControl | None:
    """The header settings, or None when no key of this group is set."""
    if not is_set(annotations, *FIELDS):
        return None

    def get(field: Field) -> Any:
        return value_of(annotations, field)

    redirect = None
    redirect_from = get(REDIRECT_FROM)
    if redirect_from is not None and redirect_from != "off":
        redirect_to = get(REDIRECT_TO)
        if redirect_to is None:
            found = find(annotations, REDIRECT_FROM.name)
            assert found is not None
            raise AnnotationError(found[0], "needs proxy-redirect-to")
        redirect = (redirect_from, redirect_to)
    return HeaderControl(
        upstream_vhost=get(UPSTREAM_VHOST),
        connection=get(CONNECTION),
        forwarded_prefix=get(FORWARDED_PREFIX),
        request_add=get(REQUEST_ADD) or (),
        request_update=get(REQUEST_UPDATE) or (),
        request_remove=get(REQUEST_REMOVE) or (),
        response_add=get(RESPONSE_ADD) or (),
        response_update=get(RESPONSE_UPDATE) or (),
        response_remove=get(RESPONSE_REMOVE) or (),
        custom_headers=get(CUSTOM_HEADERS),
        cookie_domain=get(COOKIE_DOMAIN),
        cookie_path=get(COOKIE_PATH),
        redirect=redirect,
    )
