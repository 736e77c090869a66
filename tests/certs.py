"""Test certificates: a throwaway CA and leaf certificates it signs (EC P-256: fast to make)."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class Issued:
    """A certificate and its key as PEM, with the CA certificate that signed it."""

    cert: bytes
    key: bytes
    ca: bytes

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        """Write `<stem>.crt` and `<stem>.key`; returns their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert.write_bytes(self.cert)
        key.write_bytes(self.key)
        return cert, key


class CertificateAuthority:
    """A CA that issues server and client certificates: self-signed, or an intermediate signed
    by `parent` (its certificates then carry the intermediate after the leaf)."""

    def __init__(self, name: str = "test CA", parent: CertificateAuthority | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.name = subject
        issuer, signer = (parent.name, parent.key) if parent else (subject, self.key)
        self.cert = (
            _builder(subject, issuer, self.key.public_key(), days=30)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(_PEM)
        self.chain = self.pem + parent.chain if parent is not None else b""
        """What a leaf it issues is sent with (the intermediates up to the root)."""

    def issue(
        self, *names: str, common_name: str = "", client: bool = False, days: int = 30
    ) -> Issued:
        """A leaf certificate for DNS `names` (a client certificate when `client`)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, common_name or (names[0] if names else "x"))]
        )
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = _builder(subject, self.name, key.public_key(), days=days).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return Issued(cert.public_bytes(_PEM) + self.chain, key_pem, self.pem)

    def revocation_list(
        self, *revoked: Issued | CertificateAuthority, expired: bool = False
    ) -> bytes:
        """A PEM CRL this CA signs, revoking `revoked` (past its next update when `expired`)."""
        now = datetime.datetime.now(datetime.UTC)
        updated = now - datetime.timedelta(days=2 if expired else 0, minutes=5)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.name)
            .last_update(updated)
            .next_update(updated + datetime.timedelta(days=1))
        )
        for issued in revoked:
            cert = issued.cert
            serial = (
                cert if isinstance(cert, x509.Certificate) else x509.load_pem_x509_certificate(cert)
            ).serial_number
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(updated)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(_PEM)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, *, days: int
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def tls_secret(
    name: str, issued: Issued, namespace: str = "default", **extra: bytes
) -> dict[str, Any]:
    """A `kubernetes.io/tls` Secret manifest holding `issued` (plus `extra` keys)."""
    data = {"tls.crt": issued.cert, "tls.key": issued.key, **extra}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
