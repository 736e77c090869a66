"""Security policies applied before a request reaches a pod, in ingress-nginx's phase order.

The ConfigMap's `block-cidrs` refuses a client before anything else (an http-level `deny` in
ingress-nginx). After the route's own redirects (`routing.redirect`), a plain-HTTP request may
be sent to HTTPS (`ssl-redirect`, `force-ssl-redirect`: ingress-nginx's Lua rewrite phase).
After the rate limits (nginx's preaccess phase) come the IP allow and deny lists (its access
phase, with the authentication of `gateway.proxy.phases.authorize`). HTTPS responses on hosts
with their own certificate carry `Strict-Transport-Security` (its header filter), on the
gateway's own answers too.

CORS (`enable-cors`) adds its headers to every answer after the route match, the gateway's
own included (ingress-nginx sets them with `more_set_headers`, which applies to every status),
and answers an allowed origin's `OPTIONS` itself, in the rewrite phase before the redirects.

The scheme a redirect decision looks at is the one the client used: the connection's, or the
`X-Forwarded-Proto` a trusted proxy sent (`use-forwarded-headers`), so a gateway behind a TLS
load balancer does not redirect requests that were HTTPS at the edge (higress#2905).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from gateway.proxy.request import Peer, RequestHead, header_value, in_networks

if TYPE_CHECKING:
    from annotations.cors import Cors
    from routing.globals import GlobalConfig
    from routing.model import Route
    from routing.tls import TlsTable


def client_scheme(head: RequestHead, peer: Peer, trusted: bool) -> str:
    """`http` or `https` as the client used it (nginx's `$pass_access_scheme`): a trusted
    proxy's `X-Forwarded-Proto`, else the connection's."""
    if trusted:
        forwarded = header_value(head, b"x-forwarded-proto")
        if forwarded:
            return forwarded.decode("latin-1").strip().lower()
    return peer.scheme


def https_redirect(
    route: Route, head: RequestHead, peer: Peer, trusted: bool, config: GlobalConfig
) -> str | None:
    """`Location` when this plain-HTTP request must go to HTTPS, else None.

    As ingress-nginx: `https://` + the host without its port + the request URI, whose
    trailing `/` is dropped unless `preserve-trailing-slash` (so `/` becomes the bare host).
    """
    redirects = route.redirects
    force = config.force_ssl_redirect
    redirect = config.ssl_redirect
    preserve = config.preserve_trailing_slash
    if redirects is not None:
        force = force if redirects.force_ssl_redirect is None else redirects.force_ssl_redirect
        redirect = redirect if redirects.ssl_redirect is None else redirects.ssl_redirect
        if redirects.preserve_trailing_slash is not None:
            preserve = redirects.preserve_trailing_slash
    if not (force or (redirect and route.tls)):
        return None
    if client_scheme(head, peer, trusted) != "http":
        return None
    uri = f"{head.raw_path}?{head.query_string}" if head.query_string else head.raw_path
    if not preserve and uri.endswith("/"):
        uri = uri[:-1]
    return f"https://{head.host}{uri}"


HSTS_REPLACES: Final = frozenset({b"strict-transport-security"})
"""The pod's own HSTS header gives way to the gateway's (ingress-nginx sets, not adds, it)."""


def hsts_header(config: GlobalConfig, tls: TlsTable, host: str) -> bytes:
    """The `Strict-Transport-Security` line for an HTTPS response, or b"" (HSTS off, or the
    host is served by the default certificate: announcing HSTS for it would lock clients out)."""
    if not config.hsts or tls.lookup(host) is None:
        return b""
    return _hsts_line(config.hsts_max_age, config.hsts_include_subdomains, config.hsts_preload)


@functools.lru_cache(maxsize=8)
def _hsts_line(max_age: int, include_subdomains: bool, preload: bool) -> bytes:
    """Made once per setting, not per response."""
    value = f"max-age={max_age}"
    if include_subdomains:
        value += "; includeSubDomains"
    if preload:
        value += "; preload"
    return f"Strict-Transport-Security: {value}\r\n".encode("latin-1")


def blocked(client_ip: str, config: GlobalConfig) -> bool:
    """Whether the ConfigMap's `block-cidrs` refuses this client (403 for every request)."""
    return bool(config.block_cidrs) and in_networks(client_ip, config.block_cidrs)


def ip_verdict(route: Route, client_ip: str, config: GlobalConfig) -> bool | None:
    """Whether the route's allow and deny lists, or the ConfigMap's, accept this client; None
    when no list applies (nginx's access module then neither allows nor denies).

    Deny wins; with an allow list, only what it allows passes (nginx's `deny`, `allow`,
    `deny all`). The client is the peer, or the forwarded address a trusted proxy gave.
    """
    rules = route.access
    allow = rules.allow if rules is not None and rules.allow is not None else None
    deny = rules.deny if rules is not None and rules.deny is not None else None
    if allow is None:
        allow = config.whitelist_source_range or None
    if deny is None:
        deny = config.denylist_source_range or None
    if allow is None and deny is None:
        return None
    if deny is not None and in_networks(client_ip, deny):
        return False
    return allow is None or in_networks(client_ip, allow)


CORS_REPLACES: Final = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-allow-methods",
        b"access-control-allow-headers",
        b"access-control-expose-headers",
        b"access-control-max-age",
    }
)
"""The pod's CORS headers give way to the gateway's when the origin is allowed (nginx's
`more_set_headers` replaces them)."""
CORS_AND_HSTS: Final = CORS_REPLACES | HSTS_REPLACES
_ANY_ORIGIN: Final = b"Access-Control-Allow-Origin: *\r\n"
_VARY_ORIGIN: Final = b"Vary: Origin\r\n"


def cors_headers(cors: Cors, head: RequestHead) -> tuple[bytes, bool]:
    """(header lines for every answer to this request, whether its origin is allowed).

    With an origin list the answer depends on `Origin`, so `Vary: Origin` is always sent and
    the allowed origin is echoed; with `*` every request is allowed and gets the literal `*`.
    """
    if cors.allowed is None:
        return _ANY_ORIGIN + cors.lines, True
    origin = header_value(head, b"origin")
    if origin is None or not cors.allows(origin.decode("latin-1")):
        return _VARY_ORIGIN, False
    return b"Access-Control-Allow-Origin: " + origin + b"\r\n" + cors.lines + _VARY_ORIGIN, True
