"""Which certificate each TLS server name gets: the `spec.tls` sections of the served Ingresses.

As in ingress-nginx, certificates belong to hosts, not to Ingresses: the oldest served Ingress
that names a host in its `spec.tls` decides that host's certificate for everyone. A `spec.tls`
entry without `hosts` serves the Ingress's rule hosts that its certificate covers (ingress-nginx
checks the certificate's names the same way). A Secret that is missing or incomplete is a
warning and its hosts get the default certificate; a Secret whose data does not parse was
already refused when it was read, so the store still holds its last good version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from routing.admission import AdmittedIngress
from routing.certificates import KeyPair
from routing.frozen import Frozen
from routing.problems import Problem
from routing.sources import Secret
from routing.tlspolicy import HostPolicy, build_policies

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HostCertificate(Frozen):
    """A certificate and the Secret it came from (for metrics and logs)."""

    namespace: str
    name: str
    pair: KeyPair


@dataclass(frozen=True, slots=True)
class TlsTable(Frozen):
    """Server name → certificate; `*.example.com` keys serve one extra label."""

    hosts: Mapping[str, HostCertificate] = field(default_factory=dict)
    default: HostCertificate | None = None
    """From `--default-ssl-certificate`; None means the gateway's self-signed one."""
    policies: Mapping[str, HostPolicy] = field(default_factory=dict)
    """Host → its TLS settings and client-certificate rules (`routing.tlspolicy`)."""
    digest: str = ""

    def lookup(self, server_name: str) -> HostCertificate | None:
        """The exact host's certificate, else its wildcard's, else None (the default)."""
        return by_server_name(self.hosts, server_name)

    def policy_for(self, server_name: str) -> HostPolicy | None:
        """The exact host's policy, else its wildcard's, else None (ingress-nginx's defaults)."""
        return by_server_name(self.policies, server_name) if self.policies else None


def by_server_name(table: Mapping[str, T], server_name: str) -> T | None:
    """`table[server_name]`, else the entry of its one-label wildcard (`*.parent`)."""
    found = table.get(server_name)
    if found is None:
        _, dot, parent = server_name.partition(".")
        if dot:
            found = table.get("*." + parent)
    return found


def build_tls(
    ingresses: Iterable[AdmittedIngress],
    secrets: Iterable[Secret],
    default_certificate: tuple[str, str] | None = None,
) -> tuple[TlsTable, list[Problem]]:
    """The table for `ingresses` (served ones, oldest first) and the problems found."""
    by_key = {(s.meta.namespace, s.meta.name): s for s in secrets}
    hosts: dict[str, HostCertificate] = {}
    problems: list[Problem] = []
    for admitted in ingresses:
        ingress = admitted.source
        namespace, name = ingress.meta.namespace, ingress.meta.name
        rule_hosts = [rule.host for rule in ingress.rules if rule.host]
        for i, tls in enumerate(ingress.tls):
            if not tls.secret_name:
                continue
            secret = by_key.get((namespace, tls.secret_name))
            pair = secret.key_pair if secret is not None else None
            if pair is None:
                problems.append(
                    Problem(
                        "Ingress",
                        namespace,
                        name,
                        f"spec.tls[{i}].secretName",
                        _unusable(secret, f"{namespace}/{tls.secret_name}"),
                        "warning",
                        "MissingSecret",
                    )
                )
                continue
            names = tls.hosts or tuple(h for h in rule_hosts if pair.covers(h))
            for host in names:
                hosts.setdefault(host.lower(), HostCertificate(namespace, tls.secret_name, pair))
    default = None
    if default_certificate is not None:
        secret = by_key.get(default_certificate)
        if secret is not None and secret.key_pair is not None:
            default = HostCertificate(*default_certificate, secret.key_pair)
        else:
            reason = _unusable(secret, "/".join(default_certificate))
            problems.append(
                Problem(
                    "Secret",
                    *default_certificate,
                    "--default-ssl-certificate",
                    f"{reason}; the self-signed certificate is served instead",
                    "warning",
                    "MissingSecret",
                )
            )
    policies, policy_problems = build_policies(ingresses, by_key)
    problems.extend(policy_problems)
    return TlsTable(hosts, default, policies, _digest(hosts, default, policies)), problems


def declared_tls_hosts(ingresses: Iterable[AdmittedIngress]) -> frozenset[str]:
    """The hosts some Ingress declares TLS for (`ssl-redirect` applies to them): its
    `spec.tls` hosts, or for an entry without hosts, the Ingress's rule hosts."""
    hosts: set[str] = set()
    for admitted in ingresses:
        ingress = admitted.source
        for tls in ingress.tls:
            named = tls.hosts or tuple(rule.host for rule in ingress.rules if rule.host)
            hosts.update(host.lower() for host in named)
    return frozenset(hosts)


def is_declared(declared: frozenset[str], host: str) -> bool:
    """Whether `host` is among `declared`, directly or through a one-label wildcard."""
    if host in declared:
        return True
    _, dot, parent = host.partition(".")
    return bool(dot) and "*." + parent in declared


def _unusable(secret: Secret | None, name: str) -> str:
    """Why a Secret cannot serve as a certificate (it is missing or has no key pair)."""
    if secret is None:
        return f"Secret {name} does not exist"
    return f"Secret {name} has no tls.crt and tls.key"


def _digest(
    hosts: Mapping[str, HostCertificate],
    default: HostCertificate | None,
    policies: Mapping[str, HostPolicy],
) -> str:
    parts = [f"{host}={cert.pair.digest}" for host, cert in sorted(hosts.items())]
    parts.append(f"default={default.pair.digest if default else ''}")
    parts.extend(f"policy {host}={policy.describe()}" for host, policy in sorted(policies.items()))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
