"""Client-side SSL contexts for TLS to pods (`backend-protocol: HTTPS`, `routing.podtls`).

One context per distinct setting (the route's `PodTls.key`), made on first use and kept while
some live route uses it: loading a CA or a client certificate costs far more than a handshake.
Defaults are nginx's `proxy_ssl_*`: the pod's certificate is not checked unless
`proxy-ssl-verify` is on.
"""

from __future__ import annotations

import ssl

from gateway.proxy import openssl
from gateway.proxy.tls import load_pair
from routing.podtls import PodTls


class PodContexts:
    """`ssl.SSLContext` per pod-TLS setting."""

    def __init__(self) -> None:
        self._contexts: dict[str, ssl.SSLContext] = {}

    def context(self, tls: PodTls) -> ssl.SSLContext:
        """The context for `tls` (made once)."""
        found = self._contexts.get(tls.key)
        if found is None:
            found = self._contexts[tls.key] = _client_context(tls)
        return found

    def keep(self, live: set[str]) -> None:
        """Forget the contexts of settings no live route has (after a swap)."""
        for key in [k for k in self._contexts if k not in live]:
            del self._contexts[key]


def server_name(tls: PodTls) -> str:
    """The SNI to send: the name when asked for, or when the certificate is checked; empty
    for none."""
    return tls.name if tls.settings.send_name or tls.settings.verify else ""


def _client_context(tls: PodTls) -> ssl.SSLContext:
    settings = tls.settings
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = openssl.TLS_VERSIONS[settings.versions[0]]
    context.maximum_version = openssl.TLS_VERSIONS[settings.versions[-1]]
    context.set_ciphers(settings.ciphers)
    if settings.verify and tls.ca is not None:
        context.load_verify_locations(cadata=tls.ca.decode("ascii", "replace"))
        openssl.set_verify_depth(context, settings.depth)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.client is not None:
        load_pair(context, tls.client)
    return context
