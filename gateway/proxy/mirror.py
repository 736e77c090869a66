"""Copies of requests for `annotations.mirror`: sent alongside, answers read and dropped.

nginx's mirror subrequest holds the main request until the mirror has answered, so a slow
mirror slows every mirrored route. Here a copy never touches the real request's path:

* it gets its own connection (no pool: nginx's mirror location keeps none either) and is
  written to as the real body arrives; it never pauses the client. A copy whose unsent bytes
  pass `MAX_UNSENT` (the mirror is slower than the client) is dropped;
* at most `MAX_IN_FLIGHT` copies exist at once in the process; beyond that new ones are not
  made, so a mirror that accepts and never answers cannot pile up memory or sockets;
* it has the route's connect timeout to connect and the read timeout, after its request is
  sent, to answer;
* whatever happens to it is counted (`results`, exported as
  `gateway_mirror_requests_total`) and otherwise ignored.

A copy whose real request ends before its body was read completely (the client went away, or
got an early answer) is dropped too: the mirror would otherwise wait for bytes that never come.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from typing import TYPE_CHECKING, Final, cast

import httptools

from gateway.proxy.request import request_line
from gateway.proxy.upstream_head import target_of, upstream_head

if TYPE_CHECKING:
    from gateway.proxy.request import Client, Peer, RequestHead
    from gateway.proxy.request_body import RequestBody
    from routing.globals import GlobalConfig
    from routing.model import Route
    from routing.snapshot import Snapshot

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT: Final = 1024
"""Copies alive at once in this process; beyond, requests are not copied (`dropped`)."""
MAX_UNSENT: Final = 256 * 1024
"""Bytes a copy may hold waiting for its mirror before it is dropped."""

Labels = tuple[str, str]
"""(namespace, Ingress) of the route whose requests are copied."""


def insecure_context() -> ssl.SSLContext:
    """nginx's default for `https://` upstreams: encrypted, certificate not verified."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def copy_request(
    mirrors: Mirrors,
    route: Route,
    snapshot: Snapshot,
    head: RequestHead,
    peer: Peer,
    client: Client,
    path: str | None,
    body: RequestBody,
) -> MirrorCopy | None:
    """Start the copy of one request that `route` receives, when its share says so.

    `path` is the rewritten path (Higress copies what the pod gets; nginx's URL form names its
    own target); `body` has what arrived so far (all of it: the request is not sending yet).
    """
    mirror = route.mirror
    assert mirror is not None
    if mirror.percentage < 100 and random.random() * 100 >= mirror.percentage:
        return None
    labels = (route.namespace, route.ingress)
    url = mirror.url
    if url is not None:
        address = (url.host, url.port, url.scheme == "https")
        host = mirror.host or url.hostname
        if url.path is None:
            target = target_of(head, None)
        else:
            target = url.path.expand(request_line(head, peer).variable)
            target = "/" + target.lstrip("/") if target.startswith("//") else target
    else:
        service = mirror.service
        assert service is not None
        endpoints = snapshot.endpoints.get(service.backend, ())
        if not endpoints:
            mirrors.count(labels, "failed")
            return None
        endpoint = random.choice(endpoints)
        address = (endpoint.address, endpoint.port, False)
        host = mirror.host or _shadow(head, route)
        target = target_of(head, path)
    config = snapshot.config
    copy_head = upstream_head(
        head, peer, client, config, path, route.headers,
        copy=(target, host.encode("latin-1"), mirror.request_body),
    )  # fmt: skip
    return mirrors.start(
        labels,
        address,
        copy_head,
        body.replay() if mirror.request_body else None,
        body.complete,
        config,
        head_only=head.method == "HEAD",
    )


def _shadow(head: RequestHead, route: Route) -> str:
    """Envoy's mirror `Host`: the request's (after `upstream-vhost`) with `-shadow` before any
    port, so `app.test:8080` becomes `app.test-shadow:8080`."""
    policy = route.headers
    host = (policy.host if policy and policy.host else head.host_header).decode("latin-1")
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        return f"{name}-shadow:{port}"
    return f"{host}-shadow"


class Mirrors:
    """Every copy in flight in this process, and what became of the finished ones."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.copies: set[MirrorCopy] = set()
        self.results: dict[tuple[str, str, str], int] = {}
        """(namespace, Ingress, result) → copies, for the metrics. Results: the answer's
        status class (`2xx`…), `failed` (no connection, reset, timeout, bad answer) or
        `dropped` (not sent whole: too many in flight, mirror too slow, client gone)."""
        self._tls: ssl.SSLContext | None = None

    def start(
        self,
        labels: Labels,
        address: tuple[str, int, bool],
        head: bytes,
        body: bytes | None,
        complete: bool,
        config: GlobalConfig,
        *,
        head_only: bool,
    ) -> MirrorCopy | None:
        """Copy a request to `address` (host, port, TLS): `head`, then `body` (what has arrived
        so far, None when the copy carries no body; `complete`: that is all of it); None when
        too many copies are in flight."""
        if len(self.copies) >= MAX_IN_FLIGHT:
            self.count(labels, "dropped")
            return None
        copy = MirrorCopy(self, labels, head_only)
        self.copies.add(copy)
        copy.write(head + (body or b""))
        if body is None or complete:
            copy.body_done()
        host, port, tls = address
        context = None
        if tls:
            context = self._tls = self._tls or insecure_context()
        copy.task = self.loop.create_task(copy.connect(host, port, context, config))
        return copy

    def count(self, labels: Labels, result: str) -> None:
        """Record what became of one copy."""
        key = (*labels, result)
        self.results[key] = self.results.get(key, 0) + 1

    def close_all(self) -> None:
        """Drop every copy (shutdown)."""
        for copy in list(self.copies):
            copy.finish("dropped")


class MirrorCopy(asyncio.Protocol):
    """One copy of one request, from connecting to the mirror's answer."""

    def __init__(self, mirrors: Mirrors, labels: Labels, head_only: bool) -> None:
        self.mirrors = mirrors
        self.labels = labels
        self.head_only = head_only
        self.task: asyncio.Task[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.sent_whole = False
        self.done = False
        self._status = 0
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout = 60.0

    # --- fed by the exchange -------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """More of the request body, unless the copy carries none (or has all of it)."""
        if not self.sent_whole:
            self.write(data)

    def write(self, data: bytes) -> None:
        """Bytes for the mirror: written now when connected, else held (within `MAX_UNSENT`)."""
        if self.done:
            return
        transport = self.transport
        if transport is None:
            self.pending.append(data)
            self.pending_bytes += len(data)
            if self.pending_bytes > MAX_UNSENT:
                self.finish("dropped")
            return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_UNSENT:
            self.finish("dropped")

    def body_done(self) -> None:
        """The whole request has been handed over; the mirror's answer is awaited from now."""
        self.sent_whole = True
        if self.transport is not None and not self.done:
            self._arm(self._read_timeout)

    def abandon(self) -> None:
        """The real request ended before its body was complete."""
        if not self.sent_whole:
            self.finish("dropped")

    # --- connection ----------------------------------------------------------------------------
    async def connect(
        self, host: str, port: int, context: ssl.SSLContext | None, config: GlobalConfig
    ) -> None:
        """Connect within the connect timeout, then write what is held."""
        self._read_timeout = config.proxy_read_timeout
        try:
            async with asyncio.timeout(config.proxy_connect_timeout):
                await self.mirrors.loop.create_connection(
                    lambda: self, host, port, ssl=context, server_hostname=host if context else None
                )
        except (OSError, TimeoutError) as err:
            logger.debug("mirror %s:%s: %s", host, port, err or "connect timed out")
            self.task = None  # ending from inside it: nothing to cancel
            self.finish("failed")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.done:
            self.transport.abort()
            return
        held, self.pending, self.pending_bytes = self.pending, [], 0
        self.write(b"".join(held))
        if self.sent_whole and not self.done:
            self._arm(self._read_timeout)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.finish("failed")

    def eof_received(self) -> bool:
        # A body delimited by the close ends here; anything else was cut short.
        self.finish(f"{self._status // 100}xx" if self._status else "failed")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.finish("failed")

    # httptools callbacks
    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status >= 200:
            self._status = status
            if self.head_only:
                self.finish(f"{status // 100}xx")

    def on_message_complete(self) -> None:
        if self._status:
            self.finish(f"{self._status // 100}xx")

    # --- ending --------------------------------------------------------------------------------
    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.mirrors.loop.call_later(delay, self.finish, "failed")

    def finish(self, result: str) -> None:
        """Count the outcome once and let go of everything."""
        if self.done:
            return
        self.done = True
        self.pending = []
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.abort()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.mirrors.copies.discard(self)
        self.mirrors.count(self.labels, result)
