"""Per-host TLS policy: what the served Ingresses' `ssl-ciphers`, `tls-*-protocol-version` and
`auth-tls-*` annotations (`annotations.tlspolicy`) make of each host's TLS handshake.

A host's policy comes from the oldest served Ingress that sets one for a rule with that host,
as ingress-nginx takes server-level settings from the first Ingress of a server; a younger
Ingress that asks for other settings gets a warning. The CA of `auth-tls-secret` is read here,
from the Secret's `ca.crt` (or Higress's `cacert`), with the revocation lists of its `ca.crl`
when it has one: a Secret that is missing, holds no certificate or holds a list that is not
a CA's is an error, and the host then refuses its requests (503) rather than serving them
without the client check (issue 7: an unusable security setting never opens access).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from annotations import tlspolicy
from routing.admission import AdmittedIngress
from routing.attachments import annotation_field
from routing.certificates import CertificateError, parse_certificates, parse_crls
from routing.problems import Problem
from routing.sources import Secret

CA_KEYS = ("ca.crt", "cacert")
"""Where the CA certificates are in an `auth-tls-secret` (ingress-nginx's key, Higress's)."""
CRL_KEY = "ca.crl"
"""Where its certificate revocation lists are, if it has any (ingress-nginx's key)."""


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """`auth-tls-*` for one host, with its CA."""

    rules: tlspolicy.ClientCertificates
    """What the annotations ask (verify mode, depth, error page, CN match, passing on)."""
    secret: str
    """The CA Secret as `namespace/name`."""
    ca: bytes | None
    """PEM certificates clients' certificates must chain to; None when the Secret is missing
    or holds none (every request to the host is then refused with 503)."""
    crl: bytes | None = None
    """PEM revocation lists (`ca.crl`), or None: checked for every certificate of a client's
    chain, as nginx's `ssl_crl`."""


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The TLS handshake settings of one host, and its client-certificate rules."""

    ciphers: str | None
    min_version: str | None
    max_version: str | None
    clients: ClientAuth | None
    key: str
    """Digest of the handshake settings: equal keys make equal handshakes (the data plane's
    context cache and TLS session scope)."""

    def describe(self) -> str:
        """Every setting in one line (for the TLS table's digest)."""
        clients = self.clients
        if clients is None:
            return self.key
        rules = clients.rules
        match = rules.match_cn.pattern if rules.match_cn else ""
        return f"{self.key} {rules.error_page} {rules.pass_certificate} {match!r}"


def build_policies(
    ingresses: Iterable[AdmittedIngress], secrets: Mapping[tuple[str, str], Secret]
) -> tuple[dict[str, HostPolicy], list[Problem]]:
    """Host → policy for the served `ingresses` (oldest first), and the problems found."""
    policies: dict[str, HostPolicy] = {}
    owners: dict[str, str] = {}
    problems: list[Problem] = []
    for admitted in ingresses:
        asked = admitted.config.tlspolicy
        if asked is None:
            continue
        meta = admitted.source.meta
        policy = _host_policy(asked, admitted, secrets, problems)
        for host in {rule.host.lower() for rule in admitted.source.rules if rule.host}:
            kept = policies.get(host)
            if kept is None:
                policies[host] = policy
                owners[host] = f"{meta.namespace}/{meta.name}"
            elif kept.key != policy.key:
                problems.append(
                    Problem(
                        "Ingress",
                        meta.namespace,
                        meta.name,
                        "metadata.annotations",
                        f"host {host} already has other TLS settings (ssl-ciphers, "
                        f"tls-*-protocol-version, auth-tls-*) from the older Ingress "
                        f"{owners[host]}; these are not used for it",
                        "warning",
                        "ConflictingTlsSettings",
                    )
                )
    return policies, problems


def _host_policy(
    asked: tlspolicy.TlsPolicy,
    admitted: AdmittedIngress,
    secrets: Mapping[tuple[str, str], Secret],
    problems: list[Problem],
) -> HostPolicy:
    clients = None
    if asked.clients is not None:
        wanted = asked.clients
        namespace = wanted.secret[0] or admitted.source.meta.namespace
        name = f"{namespace}/{wanted.secret[1]}"
        ca, crl = _ca(secrets.get((namespace, wanted.secret[1])), name, admitted, problems)
        clients = ClientAuth(wanted, name, ca, crl)
    parts = (
        asked.ciphers or "",
        asked.min_version or "",
        asked.max_version or "",
        repr((clients.ca, clients.crl, clients.rules.verify, clients.rules.depth))
        if clients
        else "",
    )
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return HostPolicy(asked.ciphers, asked.min_version, asked.max_version, clients, key)


def _ca(
    secret: Secret | None, name: str, admitted: AdmittedIngress, problems: list[Problem]
) -> tuple[bytes | None, bytes | None]:
    """The Secret's CA certificates and revocation lists; (None, None) with a problem saying
    why when they cannot be used."""
    reason = f"Secret {name} does not exist"
    if secret is not None:
        key = next((k for k in CA_KEYS if k in secret.data), None)
        reason = f"Secret {name} has no ca.crt (or cacert)"
        if key is not None:
            ca, crl = secret.data[key], secret.data.get(CRL_KEY)
            try:
                issuers = parse_certificates(ca, key)
                if crl is not None:
                    parse_crls(crl, CRL_KEY, issuers)
                return ca, crl
            except CertificateError as err:
                reason = f"Secret {name}: {err}"
    meta = admitted.source.meta
    problems.append(
        Problem(
            "Ingress",
            meta.namespace,
            meta.name,
            annotation_field(admitted, tlspolicy.CA_SECRET.name),
            f"{reason}; requests to its hosts are refused (503) until it does",
            "error",
            "MissingSecret",
        )
    )
    return None, None
