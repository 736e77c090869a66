"""Certificates as the gateway serves them: parsed and checked once per Secret version.

A `kubernetes.io/tls` Secret is read when it is converted (`routing.convert`), not when a
client connects, so a Secret whose certificate or key does not parse is refused like any bad
object: the store keeps its last good version and the problem names the Secret and the key.
The data plane then only loads PEM that is known to be a matching certificate and key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x448 import X448PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.x509.oid import NameOID


class CertificateError(ValueError):
    """PEM data that cannot serve: the message says why, without the data."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate chain (leaf first) and its private key, as PEM."""

    chain: bytes
    key: bytes = b""
    names: tuple[str, ...] = ()
    """The leaf's DNS names (subjectAltName, else the common name), lower case."""
    not_after: float = 0.0
    """When the leaf expires, in seconds since the epoch."""
    digest: str = ""
    """Identifies the content: equal digests load into equal TLS contexts."""

    def covers(self, host: str) -> bool:
        """Whether the leaf's names include `host` (a `*.` name covers one extra label)."""
        return any(_name_matches(name, host) for name in self.names)


def parse_key_pair(chain: bytes, key: bytes) -> KeyPair:
    """Check that `chain` holds certificates and `key` is the leaf's private key."""
    leaf = parse_certificates(chain, "tls.crt")[0]
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as err:
        raise CertificateError(f"tls.key is not an unencrypted PEM private key ({err})") from None
    public_der = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if private.public_key().public_bytes(encoding, public_der) != leaf.public_key().public_bytes(
        encoding, public_der
    ):
        raise CertificateError("tls.key is not the private key of the first certificate in tls.crt")
    return KeyPair(
        chain,
        key,
        _dns_names(leaf),
        leaf.not_valid_after_utc.timestamp(),
        hashlib.sha256(chain + b"\0" + key).hexdigest()[:16],
    )


def parse_certificates(pem: bytes, key: str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle; an error naming `key` when there is none."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise CertificateError(f"{key} is not a PEM certificate ({err})") from None
    return certificates


_CRL_BEGIN = b"-----BEGIN X509 CRL-----"
_CRL_END = b"-----END X509 CRL-----"


def parse_crls(
    pem: bytes, key: str, issuers: list[x509.Certificate]
) -> list[x509.CertificateRevocationList]:
    """Every revocation list in a PEM bundle; an error naming `key` when there is none, or
    when one names a CA of `issuers` as its issuer but that CA did not sign it (OpenSSL would
    then refuse every client certificate that CA issued). A list from a CA not in `issuers`
    (an intermediate the clients send) is checked by OpenSSL against the client's chain."""
    crls: list[x509.CertificateRevocationList] = []
    start = pem.find(_CRL_BEGIN)
    while start >= 0:
        end = pem.find(_CRL_END, start)
        if end < 0:
            break
        try:
            crls.append(x509.load_pem_x509_crl(pem[start : end + len(_CRL_END)]))
        except ValueError as err:
            raise CertificateError(
                f"{key} holds a revocation list that does not parse ({err})"
            ) from None
        start = pem.find(_CRL_BEGIN, end)
    if not crls:
        raise CertificateError(f"{key} is not a PEM revocation list (X509 CRL)")
    for crl in crls:
        for issuer in issuers:
            if issuer.subject == crl.issuer and not _signed(crl, issuer):
                raise CertificateError(
                    f"{key}: the list of {crl.issuer.rfc4514_string()} is not signed by that CA"
                )
    return crls


def _signed(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    if isinstance(key, (X25519PublicKey, X448PublicKey)):
        return False  # a key that cannot sign
    return crl.is_signature_valid(key)


def _dns_names(leaf: x509.Certificate) -> tuple[str, ...]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [
            str(attribute.value)
            for attribute in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    return tuple(name.lower() for name in names)


def _name_matches(name: str, host: str) -> bool:
    if name.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == name[2:]
    return name == host
