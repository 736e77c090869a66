"""TLS towards the pods of a route (`backend-protocol: HTTPS`), with its Secret resolved.

`annotations.upstreamtls` says what the Ingress asks; this adds what the Secret of
`proxy-ssl-secret` holds (the CA to check pods with, the client certificate to show them) and
the name to check and send. A Secret that is missing, or `proxy-ssl-verify: on` without a
`ca.crt` to check against, is an error and the routes answer 503: never an unchecked
connection where a checked one was asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from annotations.upstreamtls import UpstreamTls
from routing.certificates import CertificateError, KeyPair, parse_certificates
from routing.sources import Secret


@dataclass(frozen=True, slots=True)
class PodTls:
    """How a route's requests reach its pods over TLS."""

    settings: UpstreamTls
    name: str
    """The name checked in the pods' certificates and sent as SNI."""
    client: KeyPair | None
    """The certificate shown to the pods (`tls.crt`/`tls.key` of the Secret)."""
    ca: bytes | None
    """PEM certificates the pods' certificates must chain to (`ca.crt`)."""
    usable: bool
    """False when the Secret is missing or lacks what was asked: the routes answer 503."""
    key: str
    """Digest of everything above: one client context, and one pool of connections per pod."""


def pod_tls(
    settings: UpstreamTls, namespace: str, service: str, secret: Secret | None
) -> tuple[PodTls, str]:
    """The resolved settings and, when they are unusable, why (empty when usable)."""
    name = settings.name or f"{service}.{namespace}.svc"
    client = secret.key_pair if secret is not None else None
    ca = secret.data.get("ca.crt") if secret is not None else None
    problem = ""
    if settings.secret is not None and secret is None:
        ref = f"{settings.secret[0] or namespace}/{settings.secret[1]}"
        problem = f"Secret {ref} does not exist"
    elif ca is not None:
        try:
            parse_certificates(ca, "ca.crt")
        except CertificateError as err:
            problem, ca = f"proxy-ssl-secret: {err}", None
    if not problem and settings.verify and ca is None:
        problem = "proxy-ssl-verify is on but proxy-ssl-secret gives no ca.crt to check with"
    parts = (
        repr(settings), name, client.digest if client else "",
        hashlib.sha256(ca).hexdigest() if ca else "",
    )  # fmt: skip
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return PodTls(settings, name, client, ca, not problem, key), problem
