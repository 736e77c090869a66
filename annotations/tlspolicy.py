"""Per-host TLS: protocol versions, TLS 1.2 ciphers and client certificates (reference §1I).

These settings belong to hosts, not paths, as in ingress-nginx: they shape the TLS handshake,
which happens before any request says which path it wants. They apply to the Ingress's rule
hosts; when several served Ingresses set them for one host, the oldest wins and the others get
a warning (`routing.tls`).

`ssl-ciphers` (Higress spells it `ssl-cipher`; the nginx name wins when both are set) is an
OpenSSL cipher list for TLS 1.2 and older; TLS 1.3 suites are OpenSSL's. `tls-min-protocol-
version` / `tls-max-protocol-version` bound the versions (ingress-nginx's defaults: TLS 1.2
and 1.3).

`auth-tls-secret` asks clients for a certificate signed by the CA in the Secret's `ca.crt`
(Higress's `cacert` key is read too) and not revoked by a list in its `ca.crl`. As nginx, the
handshake never fails for a bad or missing certificate; the request is refused afterwards
(`auth-tls-verify-client`): `on` needs a valid certificate, `optional` checks one when sent,
`optional_no_ca` asks for one and checks nothing, `off` does not ask. A refused request gets
400, or a redirect to `auth-tls-error-page`. `auth-tls-match-cn` also requires the
certificate's subject DN to match a regex (403 if not). The pod learns the outcome from
ingress-nginx's `ssl-client-verify`, `ssl-client-subject-dn` and `ssl-client-issuer-dn`
headers, and with `auth-tls-pass-certificate-to-upstream` the certificate itself
(`ssl-client-cert`, URL-escaped PEM).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, optional_value, typed_value
from annotations._validators import (
    boolean,
    object_reference,
    one_of,
    regex,
    text,
    verify_depth,
)
from annotations.errors import AnnotationError

VERSIONS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def cipher_list(raw: str) -> str:
    """An OpenSSL cipher list (`:`, `,` or blank separated) with at least one known cipher."""
    value = text(raw)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(value)
    except ssl.SSLError:
        raise ValueError(f"{value!r} names no cipher this OpenSSL knows") from None
    return value


def _version(raw: str) -> str:
    value = raw.strip()
    for version in VERSIONS:
        if value.lower() == version.lower():
            return version
    raise ValueError(f"{raw!r} is not one of {', '.join(VERSIONS)}")


def _absolute_url(raw: str) -> str:
    value = text(raw)
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
        raise ValueError(f"{value!r} is not an absolute http(s) URL")
    return value


SSL_CIPHERS = Field(
    "ssl-ciphers",
    cipher_list,
    default=None,
    value_format="OpenSSL cipher list",
    doc="Cipher suites offered for TLS 1.2 and older on the Ingress's hosts "
    "(default: ingress-nginx's list).",
)
SSL_CIPHER = Field(
    "ssl-cipher",
    cipher_list,
    default=None,
    value_format="OpenSSL cipher list",
    doc="Higress's spelling of `ssl-ciphers` (which wins when both are set).",
)
MIN_VERSION = Field(
    "tls-min-protocol-version",
    _version,
    default=None,
    value_format="`TLSv1.0` … `TLSv1.3`",
    doc="Oldest TLS version the hosts accept (default TLSv1.2). TLS 1.0 and 1.1 also need "
    "`ssl-ciphers` with `@SECLEVEL=0` on OpenSSL 3.",
)
MAX_VERSION = Field(
    "tls-max-protocol-version",
    _version,
    default=None,
    value_format="`TLSv1.0` … `TLSv1.3`",
    doc="Newest TLS version the hosts accept (default TLSv1.3).",
)
CA_SECRET = Field(
    "auth-tls-secret",
    object_reference("Secret"),
    default=None,
    value_format="Secret `name` or `namespace/name`",
    doc="Ask clients for a certificate signed by the CA in the Secret's `ca.crt` (or "
    "Higress's `cacert`), and not revoked by the lists in its `ca.crl` when it has one.",
)
VERIFY_CLIENT = Field(
    "auth-tls-verify-client",
    one_of("on", "off", "optional", "optional_no_ca"),
    default="on",
    value_format="`on`, `off`, `optional`, `optional_no_ca`",
    doc="`on`: a valid certificate is required; `optional`: checked when sent; "
    "`optional_no_ca`: asked for, passed on, not checked; `off`: not asked for.",
)
VERIFY_DEPTH = Field(
    "auth-tls-verify-depth",
    verify_depth,
    default=1,
    value_format="1 to 100",
    doc="Longest chain of intermediate CAs between the client certificate and the CA.",
)
ERROR_PAGE = Field(
    "auth-tls-error-page",
    _absolute_url,
    default=None,
    value_format="absolute URL",
    doc="Redirect (302) refused clients here instead of answering 400.",
)
PASS_CERTIFICATE = Field(
    "auth-tls-pass-certificate-to-upstream",
    boolean,
    default=False,
    value_format="boolean",
    doc="Send the client certificate to the pod in `ssl-client-cert` (URL-escaped PEM).",
)
MATCH_CN = Field(
    "auth-tls-match-cn",
    regex,
    default=None,
    value_format="regular expression",
    doc="Also require the certificate's subject DN (`CN=…,O=…`) to match; 403 otherwise.",
)

FIELDS: tuple[Field, ...] = (
    SSL_CIPHERS,
    SSL_CIPHER,
    MIN_VERSION,
    MAX_VERSION,
    CA_SECRET,
    VERIFY_CLIENT,
    VERIFY_DEPTH,
    ERROR_PAGE,
    PASS_CERTIFICATE,
    MATCH_CN,
)


@dataclass(frozen=True, slots=True)
class ClientCertificates:
    """What `auth-tls-*` asks of clients."""

    secret: tuple[str | None, str]
    """The CA Secret as (namespace or None for the Ingress's, name)."""
    verify: str
    """`on`, `optional` or `optional_no_ca` (`off` makes no `ClientCertificates`)."""
    depth: int
    error_page: str | None
    pass_certificate: bool
    match_cn: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    """The TLS settings one Ingress asks for its hosts."""

    ciphers: str | None
    min_version: str | None
    max_version: str | None
    clients: ClientCertificates | None


def parse(annotations: Mapping[str, str]) -> TlsPolicy | None:
    """The policy, or None when no key is set (every key is still validated)."""
    ciphers = optional_value(annotations, SSL_CIPHERS, str) or optional_value(
        annotations, SSL_CIPHER, str
    )
    low = optional_value(annotations, MIN_VERSION, str)
    high = optional_value(annotations, MAX_VERSION, str)
    if low is not None and high is not None and VERSIONS.index(low) > VERSIONS.index(high):
        found = find(annotations, MIN_VERSION.name)
        assert found is not None
        raise AnnotationError(found[0], f"{low} is newer than tls-max-protocol-version {high}")
    secret = optional_value(annotations, CA_SECRET, tuple)
    verify = typed_value(annotations, VERIFY_CLIENT, str)
    depth = typed_value(annotations, VERIFY_DEPTH, int)
    error_page = optional_value(annotations, ERROR_PAGE, str)
    passes = typed_value(annotations, PASS_CERTIFICATE, bool)
    match_cn = optional_value(annotations, MATCH_CN, re.Pattern)
    clients = None
    if secret is not None and verify != "off":
        clients = ClientCertificates(secret, verify, depth, error_page, passes, match_cn)
    if ciphers is None and low is None and high is None and clients is None:
        return None
    return TlsPolicy(ciphers, low, high, clients)
