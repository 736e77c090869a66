"""Mirroring: nginx `mirror-target`, `mirror-request-body`, `mirror-host`; Higress
`mirror-target-service` and `mirror-percentage` (reference §1L, §2).

A mirrored request is a copy sent alongside the real one; its response is read and dropped.
nginx's form names a URL, whose path may use nginx variables (usually `$request_uri`); without
a path the request's own target is used. The copy's `Host` is `mirror-host`, else the URL's
host name, as ingress-nginx sets it. Higress's form names a Service (`[namespace/]name[:port]`,
the first port by default), reached through its endpoints; the copy carries the request's
`Host` with `-shadow` appended, as Envoy sends it. When both are set, `mirror-target` is used
and the other draws a warning. `mirror-percentage` (default 100) applies to either form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, optional_value, typed_value, value_of
from annotations._validators import count, on_off, service_reference, text
from annotations.errors import AnnotationError
from annotations.redirect import DEFAULT_PORTS, UrlTemplate, template

_AUTHORITY = re.compile(r"(https?)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?")


@dataclass(frozen=True, slots=True)
class MirrorUrl:
    """nginx's `mirror-target`, split once: where to connect and what target to send."""

    scheme: str
    host: str
    """Host name or IP address (IPv6 without brackets)."""
    port: int
    path: UrlTemplate | None
    """The request target, with nginx variables; None: the request's own target."""
    text: str
    """The annotation's value, for documents and messages."""

    @property
    def hostname(self) -> str:
        """The `Host` a copy carries by default (ingress-nginx: the URL's host name)."""
        return f"[{self.host}]" if ":" in self.host else self.host


def _url(raw: str) -> MirrorUrl:
    """An http(s) URL with a literal host; its path may use nginx variables."""
    value = text(raw)
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} contains white space")
    found = _AUTHORITY.match(value)
    if found is None:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host name")
    scheme, host, port = found.group(1), found.group(2).strip("[]"), found.group(3)
    number = int(port) if port else DEFAULT_PORTS[scheme]
    if not 0 < number < 65536:
        raise ValueError(f"{value!r}: port {port} is out of range")
    rest = value[found.end() :]
    if rest and not rest.startswith(("/", "$")):
        raise ValueError(f"{value!r}: the host must be followed by a path")
    return MirrorUrl(scheme, host, number, template(rest) if rest else None, value)


def _service(raw: str) -> tuple[str | None, str, int | None]:
    """`[namespace/]name[:port]`, as Higress writes a mirror Service."""
    value = text(raw)
    reference, colon, port = value.partition(":")
    try:
        namespace, name = service_reference(reference)
    except ValueError:
        raise ValueError(f"{value!r} is not a Service as [namespace/]name[:port]") from None
    number = None
    if colon:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r}: {port!r} is not a port number")
        number = int(port)
    return namespace, name, number


def _percentage(raw: str) -> int:
    value = count(raw)
    if value > 100:
        raise ValueError(f"{raw!r}: a percentage is from 0 to 100")
    return value


def _host(raw: str) -> str:
    value = text(raw)
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError(f"{value!r} is not a host name")
    return value


TARGET = Field(
    "mirror-target",
    _url,
    default=None,
    value_format="URL; the path may use `$request_uri` and the other redirect variables",
    doc="Copy each request to this URL and ignore the answer. Without a path the request's own "
    "target is sent; `http://host/$request_uri` sends `/path?query` (not `//path`).",
)
REQUEST_BODY = Field(
    "mirror-request-body",
    on_off,
    default="on",
    value_format="`on` or `off`",
    doc="Whether the copy carries the request body (streamed as it arrives).",
)
HOST = Field(
    "mirror-host",
    _host,
    default=None,
    value_format="host name",
    doc="`Host` of the copies (default: the host of `mirror-target`, or for a "
    "`mirror-target-service` the request's host with `-shadow` appended).",
)
TARGET_SERVICE = Field(
    "mirror-target-service",
    _service,
    default=None,
    value_format="`[namespace/]name[:port]`",
    doc="Copy each request to this Service's endpoints (Higress); namespace: the Ingress's; "
    "port: the Service's first.",
    origin="mse",
)
PERCENTAGE = Field(
    "mirror-percentage",
    _percentage,
    default=100,
    value_format="0 to 100",
    doc="Share of requests copied (Higress); applies to `mirror-target` too.",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (TARGET, REQUEST_BODY, HOST, TARGET_SERVICE, PERCENTAGE)


@dataclass(frozen=True, slots=True)
class Mirror:
    """Where an Ingress's requests are copied to; exactly one of `url` and `service` is set."""

    url: MirrorUrl | None = None
    service: tuple[str | None, str, int | None] | None = None
    """(namespace or None for the Ingress's, Service name, port or None for the first)."""
    host: str | None = None
    """`mirror-host`."""
    request_body: bool = True
    percentage: int = 100


def parse(annotations: Mapping[str, str]) -> Mirror | None:
    """The Ingress's mirror, or None when it names no target."""
    for field in FIELDS:
        value_of(annotations, field)  # validates every key, used or not
    if not is_set(annotations, TARGET, TARGET_SERVICE):
        return None
    url = optional_value(annotations, TARGET, MirrorUrl)
    service = None if url is not None else optional_value(annotations, TARGET_SERVICE, tuple)
    return Mirror(
        url,
        service,
        optional_value(annotations, HOST, str),
        typed_value(annotations, REQUEST_BODY, str) == "on",
        typed_value(annotations, PERCENTAGE, int),
    )


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """Both targets set: only `mirror-target` is used."""
    found = find(annotations, TARGET_SERVICE.name)
    if found is None or find(annotations, TARGET.name) is None:
        return []
    return [AnnotationError(found[0], "mirror-target is set too and is used instead of this")]
