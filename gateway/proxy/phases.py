"""What happens to a request between its complete head and its first try, in nginx's order.

`admit` finds the route and applies the policies that may answer the request without a pod,
in the order of nginx's phases as ingress-nginx configures them: `block-cidrs` (http level),
the client certificate of an HTTPS request (nginx checks it as the request arrives), the
route match and `proxy-body-size` (find-config), the CORS preflight and the route's
redirects (its location's rewrite directives), the HTTPS redirect (its Lua rewrite handler),
the rate limits (preaccess) and the IP lists (access). A route with authentication takes its
access phase in `authorize` instead, which may wait (a password hash checked off the loop).
`prepare` then picks the backend and builds what goes upstream; `error_page_request`
points a `custom-http-errors` exchange at its default backend. Each returns a status for the
gateway to answer, or 0 to go on.

These are the exchange's own steps, kept here so that `gateway.proxy.exchange` stays about
moving bytes; they read and set the exchange's request-scoped fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from gateway.proxy import clientcerts, policies
from gateway.proxy.extauth import signin_location
from gateway.proxy.mirror import copy_request
from gateway.proxy.request import client_address, request_line
from gateway.proxy.upstream_head import error_page_head, upstream_head
from routing.redirect import redirect_for
from routing.rewrite import rewrite_path

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange
    from routing.auth import ExternalCheck, PasswordFile

PREFLIGHT_PAGE: Final = ("text/plain charset=UTF-8", b"")
"""The answer to a CORS preflight: 204 with an empty text body (ingress-nginx's)."""


def admit(ex: Exchange) -> int:
    """Route the request and apply every policy that may answer it without a pod."""
    snapshot = ex.snapshot
    if snapshot is None:
        return 503  # no snapshot is live yet
    head, peer, config, tls = ex.head, ex.down.peer, ex.config, snapshot.tls
    ex.client_ip, trusted = ex.client = client_address(head, peer, config)
    if peer.scheme == "https":
        ex.added_headers = policies.hsts_header(config, tls, head.host)
        if ex.added_headers:
            ex.replaced = policies.HSTS_REPLACES
    if policies.blocked(ex.client_ip, config):
        return 403
    tls_policy = tls.policy_for(head.host) if tls.policies else None
    if tls_policy is not None and tls_policy.clients and peer.scheme == "https":
        status = clientcerts.check(ex, tls_policy.clients, tls_policy.key)
        if status:
            return status  # as nginx, before the request is routed
    route = snapshot.matcher.match(head.host, head.path, head)
    if route is None:
        return 404
    ex.route = ex.target = route
    ex.timeouts = route.timeouts
    if ex.body.apply_limits(route.body, config, head.content_length):
        return 413
    if route.cors is not None:
        lines, allowed = policies.cors_headers(route.cors, head)
        ex.added_headers += lines
        if allowed:
            ex.replaced = policies.CORS_AND_HSTS if ex.replaced else policies.CORS_REPLACES
            if head.method == "OPTIONS":
                ex.page = PREFLIGHT_PAGE
                return 204
    if route.redirects is not None:
        answer = redirect_for(route.redirects, request_line(head, peer), config.http_redirect_code)
        if answer is not None:
            status, ex.location = answer
            return status
    if peer.scheme == "http":
        ex.location = policies.https_redirect(route, head, peer, trusted, config)
        if ex.location is not None:
            return config.http_redirect_code
        if tls_policy is not None and tls_policy.clients:
            status = clientcerts.check(ex, tls_policy.clients, tls_policy.key)
            if status:
                return status  # plain HTTP shows no certificate
    if route.limits is not None:
        limiter, now = ex.down.server.limiter, ex.loop.time()
        refusal, ex.slot = limiter.admit(route, ex.client_ip, now, config)
        if refusal is not None:
            ex.page = refusal.page
            return refusal.status
    if route.auth is None and policies.ip_verdict(route, ex.client_ip, config) is False:
        return 403
    return 0


async def authorize(ex: Exchange) -> int:
    """nginx's access phase for a route with authentication: the IP lists and the
    credentials must both accept the request (`satisfy all`), or either (`satisfy any`, where
    a refusal is 401 rather than 403 when credentials could help, as nginx answers)."""
    route = ex.route
    assert route is not None and route.auth is not None
    auth = route.auth
    by_address = policies.ip_verdict(route, ex.client_ip, ex.config)
    if auth.satisfy_any and by_address is True:
        return 0
    if not auth.satisfy_any and by_address is False:
        return 403
    return await _basic(ex, auth.basic) or await _external(ex, auth.external)


async def _basic(ex: Exchange, users: PasswordFile | None) -> int:
    """`auth-type: basic`: 401 with the realm unless the credentials match."""
    if users is None:
        return 0
    if not users.usable:
        return 503  # the Secret is missing: never serve the route unguarded
    if await ex.down.server.passwords.allows(users, ex.head):
        return 0
    ex.added_headers += users.challenge
    return 401


async def _external(ex: Exchange, check: ExternalCheck | None) -> int:
    """`auth-url`: ask the service; carry its headers to the pod and its cookies to the
    client; a 401 goes to `auth-signin` when one is set."""
    if check is None:
        return 0
    if not check.usable:
        return 503  # its `auth-proxy-set-headers` ConfigMap is missing
    head, peer = ex.head, ex.down.peer
    timeouts = (ex.connect_timeout(), ex.read_timeout())
    authenticator = ex.down.server.authenticator
    verdict = await authenticator.check(check, head, peer, ex.client, timeouts, ex.loop.time())
    if check.config.always_set_cookie:
        ex.added_headers += verdict.cookies
    if verdict.status == 0:
        ex.add_upstream_headers(check.copied, verdict.upstream)
        if not check.config.always_set_cookie:
            ex.auth_cookies = verdict.cookies
        return 0
    if verdict.status == 401:
        ex.location = signin_location(check, head, peer)
        if ex.location is not None:
            return 302
        ex.added_headers += verdict.challenge
    return verdict.status


def prepare(ex: Exchange) -> int:
    """Choose the backend that serves the admitted request and build its upstream head."""
    route, snapshot, head = ex.route, ex.snapshot, ex.head
    assert route is not None and snapshot is not None
    ex.target, ex.endpoints = ex.down.server.chooser.backend_for(route, snapshot, head)
    if not ex.endpoints:
        return 503
    if route.pod_tls is not None and not route.pod_tls.usable and ex.target is not route.fallback:
        return 503  # its proxy-ssl-secret is missing: never connect unchecked
    if ex.target is not route.fallback:
        ex.error_codes = route.error_codes
    path = rewrite_path(route.rewrite, head.path) if route.rewrite is not None else None
    peer = ex.down.peer
    ex.forward_head = upstream_head(
        head, peer, ex.client, ex.config, path, route.headers, auth=ex.auth_upstream
    )
    if route.mirror is not None:
        copies = ex.down.server.mirrors
        ex.mirror = copy_request(copies, route, snapshot, head, peer, ex.client, path, ex.body)
    return 0


def error_page_request(ex: Exchange) -> bool:
    """`custom-http-errors`: point the exchange at the default backend with ingress-nginx's
    error-page request; False when there is none (or it has no endpoints)."""
    route, answered, snapshot = ex.route, ex.target, ex.snapshot
    assert route is not None and answered is not None and snapshot is not None
    fallback = route.fallback
    endpoints = snapshot.endpoints.get(fallback.backend, ()) if fallback else ()
    if fallback is None or not endpoints:
        return False
    ex.forward_head = error_page_head(
        ex.head, ex.client_ip, ex.intercepted, route.namespace, route.ingress,
        answered.service, answered.port,
    )  # fmt: skip
    ex.target, ex.endpoints = fallback, endpoints
    return True
