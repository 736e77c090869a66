"""TLS termination: one SSL context per certificate, chosen per handshake by SNI.

The listener's context carries the default certificate and an SNI callback. The callback looks
the client's server name up in the contexts built from the live snapshot's `TlsTable` (exact
host, then its wildcard) and switches the handshake to that context. A swap rebuilds only the
contexts whose certificate changed (they are keyed by content digest), so rotating a Secret
costs one load and never touches established connections: they keep the context they were
made with, and the next handshake gets the new one.

Python's `ssl` module loads certificates only from files, so PEM is handed over through an
anonymous in-memory file (`memfd_create`): private keys never reach a disk.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import ssl
import warnings
import weakref
from collections.abc import Callable
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.proxy import openssl
from routing.certificates import KeyPair, parse_key_pair
from routing.globals import GlobalConfig
from routing.snapshot import Snapshot
from routing.tls import by_server_name
from routing.tlspolicy import ClientAuth, HostPolicy

logger = logging.getLogger(__name__)

ALPN: Final = ["http/1.1"]
"""What the listener offers in ALPN: HTTP/1.1 is all the proxy speaks."""

FAKE_CERTIFICATE_NAME: Final = "Ingress Gateway Fake Certificate"


class TlsTerminator:
    """SSL contexts for the live snapshot's certificates, and the SNI choice between them."""

    def __init__(self, fallback: KeyPair | None = None) -> None:
        self._fallback_pair = fallback or self_signed()
        defaults = GlobalConfig()
        self._global_settings = (defaults.ssl_protocols, defaults.ssl_ciphers)
        """`ssl-protocols` and `ssl-ciphers` in force."""
        self.listener_context = _server_context(self._fallback_pair, defaults.ssl_ciphers)
        """The listening socket's context: the self-signed certificate and the SNI callback."""
        self.listener_context.sni_callback = self._choose
        self._fallback = self.listener_context
        self._by_digest: dict[str, ssl.SSLContext] = {}
        self._by_name: dict[str, ssl.SSLContext] = {}
        self._default = self._fallback
        self._digest = ""
        self._handshakes: dict[str, openssl.Handshake] = {}
        """Server name → the settings its policy gives handshakes (`openssl.Handshake`)."""
        self.server_names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = (
            weakref.WeakKeyDictionary()
        )
        """The server name each TLS connection asked for (Python does not keep it)."""
        self._client_hello: object = None
        if openssl.AVAILABLE:
            self._client_hello = openssl.install_client_hello(
                self.listener_context, self._handshake
            )
        else:
            logger.warning("per-host TLS settings are unavailable: %s", openssl.UNAVAILABLE_REASON)

    def update(self, snapshot: Snapshot) -> None:
        """Build contexts for the certificates `snapshot` serves; reuse the unchanged ones."""
        self._apply_global_settings(snapshot.config)
        table = snapshot.tls
        if table.digest == self._digest:
            return  # most swaps change endpoints, not certificates
        built: dict[str, ssl.SSLContext] = {}
        by_name: dict[str, ssl.SSLContext] = {}
        default_pair = table.default.pair if table.default is not None else self._fallback_pair
        for name in {*table.hosts, *table.policies}:
            # A certificate OpenSSL refuses (rare: it parsed when its Secret was read)
            # leaves the name on the context it had.
            cert = table.hosts.get(name)
            secret = f"{cert.namespace}/{cert.name}" if cert else "--default-ssl-certificate"
            policy = table.policies.get(name)
            clients = policy.clients if policy is not None else None
            pair = cert.pair if cert else default_pair
            context = self._context(pair, clients, built, secret) or self._by_name.get(name)
            if context is not None:
                by_name[name] = context
        default = self._fallback
        if table.default is not None:
            ref = f"{table.default.namespace}/{table.default.name}"
            default = self._context(table.default.pair, None, built, ref) or self._default
        self._by_digest = built
        self._by_name = by_name
        self._default = default
        self._handshakes = {name: _handshake(policy) for name, policy in table.policies.items()}
        self._digest = table.digest

    def _apply_global_settings(self, config: GlobalConfig) -> None:
        """`ssl-protocols` and `ssl-ciphers`, for hosts without their own (whose settings
        replace these in their handshakes: `_handshake`). OpenSSL takes a handshake's versions
        from the context it began on, the listener's, and its ciphers from the context SNI
        moves it to, so the versions go on the listener's context and the ciphers on every
        context, which are rebuilt for a new list. New handshakes take the new values."""
        wanted = (config.ssl_protocols, config.ssl_ciphers)
        if wanted == self._global_settings:
            return
        context = self.listener_context
        try:
            context.set_ciphers(config.ssl_ciphers)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 and 1.1, if asked
                context.minimum_version = openssl.TLS_VERSIONS[config.ssl_protocols[0]]
                context.maximum_version = openssl.TLS_VERSIONS[config.ssl_protocols[-1]]
        except (ssl.SSLError, ValueError) as err:
            logger.error("ssl-protocols / ssl-ciphers could not be applied: %s", err)
            return
        if config.ssl_ciphers != self._global_settings[1]:
            self._by_digest, self._digest = {}, ""  # every host's context, with the new list
        self._global_settings = wanted

    def _context(
        self,
        pair: KeyPair,
        clients: ClientAuth | None,
        built: dict[str, ssl.SSLContext],
        secret: str,
    ) -> ssl.SSLContext | None:
        """The context for `pair` (checking client certificates against the CA and
        revocation lists of `clients`), reused when the last table had it."""
        ca = clients.ca if clients is not None else None
        crl = clients.crl if clients is not None else None
        key = pair.digest
        for pem in (ca, crl):
            key += hashlib.sha256(pem).hexdigest()[:16] if pem else "-"
        context = built.get(key) or self._by_digest.get(key)
        if context is None:
            try:
                context = _server_context(pair, self._global_settings[1])
                if ca:
                    context.load_verify_locations(cadata=ca.decode("ascii", "replace"))
                if crl:
                    _load_crls(context, crl)
            except (ssl.SSLError, OSError, ValueError) as err:
                logger.error("Secret %s: the certificate could not be loaded: %s", secret, err)
                return None
        built[key] = context
        return context

    def _handshake(self, server_name: str) -> openssl.Handshake | None:
        """ClientHello callback: the settings of the name's policy, if it has one."""
        return by_server_name(self._handshakes, server_name) if self._handshakes else None

    def handshake_policy(self, ssl_object: ssl.SSLObject, snapshot: Snapshot) -> HostPolicy | None:
        """The policy the connection's handshake was made under (by its server name)."""
        name = self.server_names.get(ssl_object, "")
        return snapshot.tls.policy_for(name) if name else None

    def _choose(self, connection: ssl.SSLObject, server_name: str | None, _: object) -> None:
        """SNI callback: exact name, then its wildcard, then the default certificate."""
        context = self._default
        if server_name:
            name = server_name.lower()
            self.server_names[connection] = name
            context = by_server_name(self._by_name, name) or context
        connection.context = context


def _handshake(policy: HostPolicy) -> openssl.Handshake:
    clients = policy.clients
    return openssl.Handshake(
        policy.key.encode(),
        ciphers=policy.ciphers,
        min_version=policy.min_version,
        max_version=policy.max_version,
        verify_depth=clients.rules.depth if clients is not None and clients.ca is not None else 0,
    )


def _server_context(pair: KeyPair, ciphers: str) -> ssl.SSLContext:
    """A server context for `pair` with `ciphers`, and ingress-nginx's default versions (TLS
    1.2 and 1.3; only the listener's count, see `_apply_global_settings`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    context.set_alpn_protocols(ALPN)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    load_pair(context, pair)
    return context


def load_pair(context: ssl.SSLContext, pair: KeyPair) -> None:
    """`load_cert_chain`, from memory."""
    _through_memory_file(pair.chain + b"\n" + pair.key, context.load_cert_chain)


def _load_crls(context: ssl.SSLContext, crl: bytes) -> None:
    """Check client certificates against the revocation lists in `crl`, for the whole chain.
    `load_verify_locations(cadata=)` reads certificates only; from a file it reads lists too."""
    _through_memory_file(crl, lambda path: context.load_verify_locations(cafile=path))
    openssl.check_revocation(context)


def _through_memory_file(data: bytes, load: Callable[[str], object]) -> None:
    """Give `data` to an `ssl` loader that reads only files, through an anonymous file only
    this process can see."""
    fd = os.memfd_create("tls-pem", os.MFD_CLOEXEC)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        load(f"/proc/self/fd/{fd}")


def self_signed() -> KeyPair:
    """A fresh self-signed certificate for names nothing else serves (ingress-nginx's "fake
    certificate"): clients see an untrusted certificate rather than a failed handshake."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FAKE_CERTIFICATE_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]), False)
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return parse_key_pair(
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
