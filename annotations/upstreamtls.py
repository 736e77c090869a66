"""TLS to the pods: `backend-protocol: HTTPS` and the `proxy-ssl-*` keys (reference §1J).

`backend-protocol` picks the protocol towards the pods: `HTTP` (the default) and `AUTO_HTTP`
(both plain HTTP/1.1 here) or `HTTPS`. `GRPC`, `GRPCS`, `HTTP2`
and `FCGI` need HTTP/2 or FastCGI towards the pod, which the gateway does not speak: they
refuse the Ingress rather than send its requests in a protocol the pod will not understand.

With `HTTPS`, as nginx's `proxy_ssl_*`: the pod's certificate is not checked unless
`proxy-ssl-verify: on`, which checks it against the `ca.crt` of `proxy-ssl-secret` and the
name `proxy-ssl-name` (default: the Service's `<name>.<namespace>.svc`, where nginx would
use its upstream's internal name); the Secret's `tls.crt`/`tls.key`, when present, are the
client certificate shown to the pod. `proxy-ssl-server-name: on` sends the name as SNI (it is
also sent whenever the certificate is checked: Python checks the name it sends).
`proxy-ssl-protocols`, `-ciphers` and `-verify-depth` shape the handshake. The keys other than
`backend-protocol` mean nothing without `HTTPS` (Higress ignores them too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, optional_value, typed_value
from annotations._validators import object_reference, on_off, text, verify_depth
from annotations.tlspolicy import VERSIONS, cipher_list

_SPOKEN = ("HTTP", "AUTO_HTTP", "HTTPS")
_NOT_SPOKEN = ("GRPC", "GRPCS", "HTTP2", "FCGI", "AJP")


def _protocol(raw: str) -> str:
    value = raw.strip().upper()
    if value in _NOT_SPOKEN:
        raise ValueError(
            f"{value} is not supported (the gateway speaks HTTP/1.1 and HTTPS to pods); the "
            "Ingress is not served rather than served in a protocol its pods do not expect"
        )
    if value not in _SPOKEN:
        raise ValueError(f"{raw!r} is not one of {', '.join(_SPOKEN)}")
    return value


def protocols(raw: str) -> tuple[str, ...]:
    """nginx's `ssl_protocols` / `proxy_ssl_protocols`: TLS versions separated by blanks."""
    names = {v.lower(): v for v in VERSIONS} | {"tlsv1": "TLSv1.0"}
    found = []
    for word in raw.split():
        if word.lower() not in names:
            raise ValueError(f"{word!r} is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3")
        found.append(names[word.lower()])
    if not found:
        raise ValueError("is empty")
    return tuple(sorted(set(found), key=VERSIONS.index))


def _name(raw: str) -> str:
    value = text(raw)
    if any(ch.isspace() for ch in value) or "/" in value:
        raise ValueError(f"{raw!r} is not a host name")
    return value.lower()


BACKEND_PROTOCOL = Field(
    "backend-protocol",
    _protocol,
    default="HTTP",
    value_format="`HTTP`, `AUTO_HTTP`, `HTTPS`",
    doc="Protocol towards the pods; `HTTPS` opens TLS connections (pooled per pod, SNI and "
    "client certificate). `GRPC`, `GRPCS`, `HTTP2`, `FCGI` refuse the Ingress.",
)
SECRET = Field(
    "proxy-ssl-secret",
    object_reference("Secret"),
    default=None,
    value_format="Secret `name` or `namespace/name`",
    doc="`ca.crt` to check the pods' certificates with; `tls.crt`/`tls.key` to show them.",
)
VERIFY = Field(
    "proxy-ssl-verify",
    on_off,
    default="off",
    value_format="`on`, `off`",
    doc="Check the pod's certificate against `ca.crt` and `proxy-ssl-name` (502 otherwise).",
)
NAME = Field(
    "proxy-ssl-name",
    _name,
    default=None,
    value_format="host name",
    doc="The name checked in the pod's certificate and sent as SNI "
    "(default `<service>.<namespace>.svc`).",
)
SERVER_NAME = Field(
    "proxy-ssl-server-name",
    on_off,
    default="off",
    value_format="`on`, `off`",
    doc="Send the name as SNI (always sent when `proxy-ssl-verify` is on).",
)
PROTOCOLS = Field(
    "proxy-ssl-protocols",
    protocols,
    default=("TLSv1.2", "TLSv1.3"),
    value_format="TLS versions separated by blanks",
    doc="TLS versions offered to the pods (the lowest and highest listed bound them).",
)
CIPHERS = Field(
    "proxy-ssl-ciphers",
    cipher_list,
    default="DEFAULT",
    value_format="OpenSSL cipher list",
    doc="Cipher suites offered to the pods for TLS 1.2 and older.",
)
VERIFY_DEPTH = Field(
    "proxy-ssl-verify-depth",
    verify_depth,
    default=1,
    value_format="1 to 100",
    doc="Intermediate CAs allowed between the pod's certificate and `ca.crt`.",
)

FIELDS: tuple[Field, ...] = (
    BACKEND_PROTOCOL,
    SECRET,
    VERIFY,
    NAME,
    SERVER_NAME,
    PROTOCOLS,
    CIPHERS,
    VERIFY_DEPTH,
)


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    """How the Ingress's requests reach its pods over TLS."""

    secret: tuple[str | None, str] | None
    verify: bool
    name: str | None
    send_name: bool
    versions: tuple[str, ...]
    ciphers: str
    depth: int


def parse(annotations: Mapping[str, str]) -> UpstreamTls | None:
    """The TLS settings, or None when the pods speak plain HTTP (every key is validated)."""
    protocol = typed_value(annotations, BACKEND_PROTOCOL, str)
    settings = UpstreamTls(
        optional_value(annotations, SECRET, tuple),
        typed_value(annotations, VERIFY, str) == "on",
        optional_value(annotations, NAME, str),
        typed_value(annotations, SERVER_NAME, str) == "on",
        typed_value(annotations, PROTOCOLS, tuple),
        typed_value(annotations, CIPHERS, str),
        typed_value(annotations, VERIFY_DEPTH, int),
    )
    return settings if protocol == "HTTPS" else None
