"""Hosts and fallbacks: `server-alias`, `default-backend`, `custom-http-errors` (reference §1).

`server-alias` gives the hosts of this Ingress more names: a request for an alias is served by
the host's routes, from every Ingress, as nginx's `server_name` list does. `default-backend`
names a Service (its first port) that takes the requests of this Ingress's routes when their
Service has no ready endpoint, and that answers in place of the upstream when the upstream's
status is one of `custom-http-errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, is_set, optional_value
from annotations._validators import service_reference, text

# RFC 1123 labels, optionally a leading `*.` wildcard label (MSE: exact and wildcard aliases).
_HOST = re.compile(r"(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _hosts(raw: str) -> tuple[str, ...]:
    """Comma- or blank-separated host names, lower case, without repeats, in order."""
    names: list[str] = []
    for item in text(raw).replace(",", " ").split():
        name = item.lower().rstrip(".")
        if len(name) > 253 or not _HOST.fullmatch(name):
            raise ValueError(f"{item!r} is not a host name (e.g. www.example.com, *.example.com)")
        if name not in names:
            names.append(name)
    return tuple(names)


def _status_codes(raw: str) -> frozenset[int]:
    """Comma-separated HTTP statuses from 300 to 599."""
    codes = set()
    for item in text(raw).split(","):
        code = item.strip()
        if not code.isdigit() or not 300 <= int(code) <= 599:
            raise ValueError(f"{code!r} is not a status code from 300 to 599")
        codes.add(int(code))
    return frozenset(codes)


SERVER_ALIAS = Field(
    "server-alias",
    _hosts,
    default=None,
    value_format="host names, comma-separated (`*.` wildcards allowed)",
    doc="More names for the hosts of this Ingress: requests for them are served by those "
    "hosts' routes. An alias that is a real host of some rule, or already an alias of an older "
    "Ingress's host, is ignored with a warning.",
    scope="host",
)
DEFAULT_BACKEND = Field(
    "default-backend",
    service_reference,
    default=None,
    value_format="Service `name` (this namespace) or `namespace/name`; its first port is used",
    doc="Serves this Ingress's requests when the route's Service has no ready endpoint, and "
    "answers for `custom-http-errors`.",
)
CUSTOM_HTTP_ERRORS = Field(
    "custom-http-errors",
    _status_codes,
    default=None,
    value_format="status codes, comma-separated",
    doc="When the upstream answers one of these, the client gets the `default-backend`'s "
    "answer to `GET /` with `X-Code`, `X-Format`, `X-Original-URI`, `X-Namespace`, "
    "`X-Ingress-Name`, `X-Service-Name`, `X-Service-Port` and `X-Request-ID` (without a "
    "default backend, the gateway's own error page for that code).",
)

FIELDS: tuple[Field, ...] = (SERVER_ALIAS, DEFAULT_BACKEND, CUSTOM_HTTP_ERRORS)


@dataclass(frozen=True, slots=True)
class HostsAndFallbacks:
    """The host aliases and fallback settings of one Ingress."""

    aliases: tuple[str, ...] = ()
    default_backend: tuple[str | None, str] | None = None
    """(namespace or None for the Ingress's own, Service name)."""
    error_codes: frozenset[int] = frozenset()


def parse(annotations: Mapping[str, str]) -> HostsAndFallbacks | None:
    """The settings, or None when no key of this group is set."""
    if not is_set(annotations, *FIELDS):
        return None
    return HostsAndFallbacks(
        optional_value(annotations, SERVER_ALIAS, tuple) or (),
        optional_value(annotations, DEFAULT_BACKEND, tuple),
        optional_value(annotations, CUSTOM_HTTP_ERRORS, frozenset) or frozenset(),
    )
