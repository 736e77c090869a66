"""External authentication checks (`annotations.extauth`): ask the service, read its verdict.

The request to `auth-url` is ingress-nginx's `auth_request` sub-request: the client's
headers (hop-by-hop ones, those its `Connection` names, framing and `X-Forwarded-Proto`
dropped), never its body, plus
`X-Original-URI`, `X-Original-URL`, `X-Original-Method`, `X-Scheme`, `X-Real-IP`,
`X-Forwarded-For`, `X-Auth-Request-Redirect`, `X-Request-ID`, `X-Sent-From:
nginx-ingress-controller` (services written for ingress-nginx look for these) and the
`auth-proxy-set-headers` ConfigMap's headers. Its timeouts are the route's connect and read
timeouts.

Verdicts: 2xx passes, carrying the `auth-response-headers` of the answer to the pod; 401 is
refused with the service's `WWW-Authenticate` (or redirected to `auth-signin`); 403 is
refused; any other status, or no answer at all, is 500. With `auth-cache-key`, verdicts are
remembered per (auth URL, key) for `auth-cache-duration`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from gateway.proxy.request import request_line
from gateway.proxy.subrequest import KeepAlive, SubrequestError, SubrequestPool
from gateway.proxy.upstream_head import HOP_BY_HOP, nominated_headers
from gateway.proxy.variables import expand

if TYPE_CHECKING:
    from gateway.proxy.request import Client, Peer, RequestHead
    from routing.auth import ExternalCheck

logger = logging.getLogger(__name__)

CACHE_SIZE: Final = 10_000
"""Cached verdicts kept; the least recently used goes first."""
_NOT_SENT: Final = frozenset(
    {
        *HOP_BY_HOP,
        b"host",
        b"content-length",
        b"expect",
        b"x-forwarded-proto",
        b"x-original-uri",
        b"x-original-url",
        b"x-original-method",
        b"x-scheme",
        b"x-real-ip",
        b"x-forwarded-for",
        b"x-auth-request-redirect",
        b"x-request-id",
        b"x-sent-from",
    }
)
"""Client headers not passed to the auth service: framing, and the ones the gateway sets."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the auth service decided for one request."""

    status: int
    """0: the request passes; else the gateway's answer (401, 403, 500)."""
    upstream: bytes = b""
    """Header lines for the request to the pod (`auth-response-headers`)."""
    cookies: bytes = b""
    """`Set-Cookie` lines of the service's answer, for the client."""
    challenge: bytes = b""
    """`WWW-Authenticate` lines of a 401."""


FAILED: Final = Verdict(500)


class ExternalAuthenticator:
    """Sends the checks and remembers cacheable verdicts."""

    def __init__(self) -> None:
        self.pool = SubrequestPool()
        self._cache: OrderedDict[tuple[str, str], tuple[float, Verdict]] = OrderedDict()

    async def check(
        self,
        check: ExternalCheck,
        head: RequestHead,
        peer: Peer,
        client: Client,
        timeouts: tuple[float, float],
        now: float,
    ) -> Verdict:
        """The verdict for one request; `timeouts` are (connect, read) seconds."""
        config = check.config
        line = request_line(head, peer)
        url = config.url.expand(line.variable)
        key = None
        if config.cache_key is not None:
            key = (url, expand(config.cache_key, head, client[0]))
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(key)
                return cached[1]
        headers = _headers(check, head, line.variable("scheme"), client[0])
        try:
            answer = await self.pool.fetch(
                url,
                config.method,
                headers,
                connect_timeout=timeouts[0],
                read_timeout=timeouts[1],
                keepalive=KeepAlive(
                    config.keepalive, config.keepalive_requests, config.keepalive_timeout
                ),
            )
        except SubrequestError as err:
            logger.warning("request %s: auth service %s failed: %s", head.request_id, url, err)
            return FAILED
        cookies = b"".join(b"Set-Cookie: %b\r\n" % v for v in answer.values(b"set-cookie"))
        if 200 <= answer.status < 300:
            lines = []
            for name in config.response_headers:
                values = answer.values(name.lower().encode("latin-1"))
                if values:
                    lines.append(b"%b: %b\r\n" % (name.encode("latin-1"), values[0]))
            verdict = Verdict(0, b"".join(lines), cookies)
        elif answer.status == 401:
            challenge = b"".join(
                b"WWW-Authenticate: %b\r\n" % v for v in answer.values(b"www-authenticate")
            )
            verdict = Verdict(401, cookies=cookies, challenge=challenge)
        elif answer.status == 403:
            verdict = Verdict(403, cookies=cookies)
        else:
            logger.warning(
                "request %s: auth service %s answered %d", head.request_id, url, answer.status
            )
            verdict = Verdict(500, cookies=cookies)
        seconds = config.cache_seconds(answer.status)
        if key is not None and seconds > 0:
            self._cache[key] = (now + seconds, verdict)
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return verdict

    def close(self) -> None:
        """Close the kept connections (at shutdown)."""
        self.pool.close_all()


def signin_location(check: ExternalCheck, head: RequestHead, peer: Peer) -> str | None:
    """Where a refused (401) client is sent: `auth-signin` with the URL it asked for in the
    `auth-signin-redirect-param` parameter, unless the URL already has that parameter."""
    config = check.config
    if config.signin is None:
        return None
    line = request_line(head, peer)
    location = config.signin.expand(line.variable)
    param = config.signin_param
    if f"{param}=" in location.partition("?")[2]:
        return location
    original = f"{line.variable('scheme')}://{line.variable('http_host')}"
    original += quote(line.variable("request_uri"), safe="")
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}{param}={original}"


def _headers(
    check: ExternalCheck, head: RequestHead, scheme: str, client_ip: str
) -> list[tuple[str, str]]:
    """The headers of the request to the auth service."""
    nominated = nominated_headers(head)
    out = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for (name, value), lower in zip(head.headers, head.names, strict=True)
        if lower not in _NOT_SENT and lower not in nominated
    ]
    request_uri = head.target.decode("latin-1")
    host = head.host_header.decode("latin-1")
    config = check.config
    out += [
        ("X-Request-ID", head.request_id),
        ("X-Original-URI", request_uri),
        ("X-Scheme", scheme),
        ("X-Original-URL", f"{scheme}://{host}{request_uri}"),
        ("X-Original-Method", head.method),
        ("X-Sent-From", "nginx-ingress-controller"),
        ("X-Real-IP", client_ip),
        ("X-Forwarded-For", client_ip),
        ("X-Auth-Request-Redirect", config.request_redirect or request_uri),
        *check.set_headers,
    ]
    return out
