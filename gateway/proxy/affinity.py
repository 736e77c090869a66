"""Sticky sessions (`affinity: cookie`): the endpoint a cookie names, and the cookie to set.

The cookie's value is `<key>|<backend tag>`, as in ingress-nginx: the tag (a hash of the
backend's name) says which backend the session belongs to, which is how a client pinned to a
canary is told from one pinned to the primary (reference §3.1). The key depends on the mode:

* `balanced`: a random key placed on the backend's consistent-hash ring (the one
  `upstream-hash-by` uses). When pods are added about 1/n of the keys move; when the cookie's pod
  leaves, its keys fall to the next pods on the ring, and the cookie stays as it is.
* `persistent`: a hash of the endpoint's address. Sessions never move while their pod is ready;
  when it leaves, the route's balancer picks a new one and the cookie is set again.

A retry after the cookie's endpoint failed goes to another endpoint. With
`session-cookie-change-on-failure` the cookie follows it; without, the cookie keeps naming the
session's endpoint (ingress-nginx would send the retry back to the failed one).
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Container, Sequence
from email.utils import formatdate
from typing import TYPE_CHECKING, Final

from routing.model import BackendKey, CanaryBackend, Endpoint, Route
from routing.snapshot import Snapshot

if TYPE_CHECKING:
    from annotations.affinity import AffinityCookie
    from annotations.balancing import Balancing
    from gateway.proxy.balancer import Balancer
    from gateway.proxy.request import Peer, RequestHead

_NEW_KEY_DRAWS: Final = 32
"""Random keys tried for a new balanced session before walking the ring from the last one."""

# Clients that reject `SameSite=None` cookies or treat them as `Strict`
# (the list the Chromium project published with its SameSite change).
_SAMESITE_NONE_INCOMPATIBLE: Final = (
    re.compile(r"\(iP.+; CPU .*OS 12[_\d]*.*\) AppleWebKit/"),
    re.compile(r"\(Macintosh;.*Mac OS X 10_14[_\d]*.*\) AppleWebKit/(?!.*Chrom(e|ium))"),
    re.compile(r"Chrom(e|ium)/(5[1-9]|6[0-6])\."),
)
_UC_BROWSER: Final = re.compile(r"UCBrowser/(\d+)\.(\d+)\.(\d+)")


def _digest(text: str, length: int) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:length]


class StickySessions:
    """Reads affinity cookies and picks endpoints for them; caches are per backend and are
    pruned after a snapshot swap, like the balancer's."""

    __slots__ = ("_balancer", "_ids", "_tags")

    def __init__(self, balancer: Balancer) -> None:
        self._balancer = balancer
        self._tags: dict[BackendKey, str] = {}
        self._ids: dict[BackendKey, tuple[Sequence[Endpoint], dict[str, Endpoint]]] = {}

    def tag(self, backend: BackendKey) -> str:
        """The backend's tag in cookie values."""
        tag = self._tags.get(backend)
        if tag is None:
            tag = self._tags[backend] = _digest(backend, 8)
        return tag

    def key(self, cookie: AffinityCookie, backend: BackendKey, head: RequestHead) -> str | None:
        """The session key the request's cookie holds for `backend`, None when it holds none."""
        value = head.cookie(cookie.name)
        if value is None:
            return None
        key, bar, tag = value.rpartition("|")
        return key if bar and key and tag == self.tag(backend) else None

    def pinned(self, route: Route, head: RequestHead) -> Route | CanaryBackend | None:
        """The primary or canary the request's affinity cookie pins it to (affinity is
        consulted before the canary rules, reference §3.1)."""
        targets: tuple[Route | CanaryBackend, ...] = (route, *route.canaries)
        for target in targets:
            cookie = target.affinity
            if cookie is not None and self.key(cookie, target.backend, head) is not None:
                return target
        return None

    def pick(
        self,
        cookie: AffinityCookie,
        backend: BackendKey,
        endpoints: Sequence[Endpoint],
        tried: Container[Endpoint],
        retry: bool,
        policy: Balancing | None,
        head: RequestHead,
        client: str,
    ) -> tuple[Endpoint | None, str | None]:
        """The endpoint for this try, skipping `tried` (with ejected endpoints), and the cookie
        value to set (None: leave the client's). `retry`: an earlier try of the request failed."""
        if not endpoints:
            return None, None
        key = self.key(cookie, backend, head)
        keep_session = key is not None and not (retry and cookie.change_on_failure)
        tag = self.tag(backend)
        if cookie.mode == "balanced":
            ring = self._balancer.ring(backend, endpoints)
            if keep_session:
                return ring.pick(key or "", lambda e: e not in tried), None
            new_key = ""
            for _ in range(_NEW_KEY_DRAWS):
                new_key = f"{random.getrandbits(64):016x}"
                endpoint = ring.pick(new_key)
                if endpoint is not None and endpoint not in tried:
                    return endpoint, f"{new_key}|{tag}"
            endpoint = ring.pick(new_key, lambda e: e not in tried)
            return endpoint, None
        ids = self._endpoint_ids(backend, endpoints)
        if key is not None:
            endpoint = ids.get(key)
            if endpoint is not None and endpoint not in tried:
                return endpoint, None
        endpoint = self._balancer.pick(backend, endpoints, tried, policy, head, client)
        if endpoint is None or (keep_session and key in ids):
            return endpoint, None  # a retry while the session's pod lives: the cookie stays
        return endpoint, f"{_digest(endpoint.hostport, 16)}|{tag}"

    def _endpoint_ids(
        self, backend: BackendKey, endpoints: Sequence[Endpoint]
    ) -> dict[str, Endpoint]:
        cached = self._ids.get(backend)
        if cached is not None and cached[0] is endpoints:
            return cached[1]
        ids = {_digest(e.hostport, 16): e for e in endpoints}
        self._ids[backend] = (endpoints, ids)
        return ids

    def prune(self, snapshot: Snapshot) -> None:
        """Forget backends the new snapshot no longer has."""
        live = snapshot.endpoints
        for cache in (self._tags, self._ids):
            for key in [k for k in cache if k not in live]:
                del cache[key]


def set_cookie(
    cookie: AffinityCookie, value: str, route: Route | None, head: RequestHead, peer: Peer
) -> bytes:
    """The `Set-Cookie` header line for a new session (ingress-nginx's attributes; always
    `HttpOnly`, `Secure` on HTTPS requests or when asked). The default `Path` is the route's
    path, as nginx's is the location's; a regex is no path, so `/` there."""
    path = cookie.path or (route.path if route is not None and route.match != "regex" else "/")
    parts = [f"{cookie.name}={value}", f"Path={path}"]
    if cookie.domain is not None:
        parts.append(f"Domain={cookie.domain}")
    if cookie.expires is not None:
        parts.append(f"Expires={formatdate(time.time() + cookie.expires, usegmt=True)}")
    if cookie.max_age is not None:
        parts.append(f"Max-Age={cookie.max_age}")
    if cookie.secure or peer.scheme == "https":
        parts.append("Secure")
    parts.append("HttpOnly")
    samesite = cookie.samesite
    if samesite is not None and not (
        samesite == "None"
        and cookie.conditional_samesite_none
        and not samesite_none_compatible(head.header("user-agent") or "")
    ):
        parts.append(f"SameSite={samesite}")
    return ("Set-Cookie: " + "; ".join(parts) + "\r\n").encode("latin-1")


def samesite_none_compatible(user_agent: str) -> bool:
    """False for the browsers that mishandle `SameSite=None`."""
    if any(pattern.search(user_agent) for pattern in _SAMESITE_NONE_INCOMPATIBLE):
        return False
    uc = _UC_BROWSER.search(user_agent)
    if uc is not None:
        return tuple(int(n) for n in uc.groups()) >= (12, 13, 2)
    return True
