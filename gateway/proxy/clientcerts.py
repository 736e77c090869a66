"""Client certificates (`auth-tls-*`): nginx's checks, made when a request arrives.

The handshake asked for a certificate and accepted whatever came (`gateway.proxy.openssl`);
here the request's host decides, as nginx decides once it knows the server:

* a certificate that failed verification gets 400 unless the host says `optional_no_ca`; a
  missing one gets 400 when the host says `on` (nginx's 495 and 496, both answered 400), or a
  302 to `auth-tls-error-page` when one is set;
* `auth-tls-match-cn` then needs the subject DN to match (403 otherwise);
* a request whose connection was made for another host's TLS settings (its SNI named another
  host, or none) gets 421 Misdirected Request: its certificate was not checked against this
  host's CA;
* a host whose CA Secret is unusable refuses every request (503).

What passes goes to the pod with ingress-nginx's headers: `ssl-client-verify` (`SUCCESS`,
`FAILED:<reason>` or `NONE`), `ssl-client-subject-dn`, `ssl-client-issuer-dn` and, with
`auth-tls-pass-certificate-to-upstream`, `ssl-client-cert` (URL-escaped PEM). Copies sent by
the client are dropped, so a pod can trust them. Plain-HTTP requests to such a host have no
certificate: with `on` they get 400 (nginx would serve them unchecked on its HTTP port).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.proxy import openssl

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange
    from routing.tlspolicy import ClientAuth

HEADERS: Final = frozenset(
    {b"ssl-client-verify", b"ssl-client-subject-dn", b"ssl-client-issuer-dn", b"ssl-client-cert"}
)
"""The headers the gateway sets for the pod; the client's copies are dropped."""
_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Presented:
    """What a connection's client showed, computed once per connection."""

    verify: str
    """nginx's `$ssl_client_verify`: SUCCESS, FAILED:<reason> or NONE."""
    subject: str
    """Subject DN as RFC 4514 (`CN=alice,O=Example`), empty without a certificate."""
    issuer: str
    escaped_pem: str
    handshake_key: str
    """The key of the host policy the handshake was made under (empty: none)."""


def presented(ex: Exchange) -> Presented:
    """The client certificate of the exchange's connection (cached on the connection)."""
    down = ex.down
    if down.client_certificate is not None:
        return down.client_certificate
    transport = down.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    shown = Presented("NONE", "", "", "", "")
    if ssl_object is not None and openssl.AVAILABLE and ex.snapshot is not None:
        policy = down.server.tls.handshake_policy(ssl_object, ex.snapshot)
        key = policy.key if policy is not None else ""
        der = ssl_object.getpeercert(binary_form=True)
        shown = Presented("NONE", "", "", "", key)
        if der is not None:
            code, reason = openssl.verify_result(ssl_object)
            cert = x509.load_der_x509_certificate(der)
            shown = Presented(
                "SUCCESS" if code == 0 else f"FAILED:{reason}",
                _header_safe(cert.subject.rfc4514_string()),
                _header_safe(cert.issuer.rfc4514_string()),
                quote(cert.public_bytes(Encoding.PEM), safe=""),
                key,
            )
    down.client_certificate = shown
    return shown


def check(ex: Exchange, clients: ClientAuth, policy_key: str) -> int:
    """0 when the request may go on (the pod's headers are then added), else the status."""
    if clients.ca is None or not openssl.AVAILABLE:
        return 503  # the CA is unusable: never serve the host unchecked
    shown, rules = presented(ex), clients.rules
    if ex.down.peer.scheme == "https" and shown.handshake_key != policy_key:
        return 421
    missing = shown.verify == "NONE" and rules.verify == "on"
    failed = shown.verify.startswith("FAILED") and rules.verify != "optional_no_ca"
    if missing or failed:
        if rules.error_page is not None:
            ex.location = rules.error_page
            return 302
        return 400
    if rules.match_cn is not None and not rules.match_cn.search(shown.subject):
        return 403
    lines = (
        f"ssl-client-verify: {shown.verify}\r\n"
        f"ssl-client-subject-dn: {shown.subject}\r\n"
        f"ssl-client-issuer-dn: {shown.issuer}\r\n"
    )
    if rules.pass_certificate:
        lines += f"ssl-client-cert: {shown.escaped_pem}\r\n"
    ex.add_upstream_headers(HEADERS, lines.encode("utf-8"))
    return 0


def _header_safe(text: str) -> str:
    """A DN as a header value: control characters (a client chose them) escaped as `\\XX`."""
    return _UNSAFE.sub(lambda m: f"\\{ord(m.group()):02X}", text)
