"""One request, from its complete head to the last response byte.

Theory of operation
-------------------
The downstream protocol creates an `Exchange` when a request head is complete, with the snapshot
that is live at that moment (DESIGN.md invariant 1); the exchange never looks at the holder
again. `start` routes the request, then tries endpoints:

* a try takes an idle pooled connection or opens one, writes our re-serialised head and the
  body bytes received so far, and waits for the response head;
* a failure before the response head, or a status listed as `http_<status>`, moves to the
  next endpoint under nginx's `proxy_next_upstream` rules (`gateway.proxy.retries`); a replay
  needs the body sent so far, which `gateway.proxy.request_body` keeps while it is small;
* a reused pooled connection that fails before any response byte is retried once on a fresh
  connection to the same pod, without counting a try (the pod had closed it while idle).

The usual request, on a route without authentication or a whole-request timeout whose pod has
an idle pooled connection, is served in callbacks, with no task: the protocol's and the pod
connection's callbacks drive it from the head to the end. The first step that must wait for
something else than the pod's answer (a new connection, the auth service, another try, an error
page) hands the rest of the exchange to a task. See the lifecycle section below.

Bodies are never held whole. Request body pieces go straight to the pod once a connection is
attached, and until then wait in a list bounded by pausing the client's reads. Response body
pieces go straight to the client; when the client's socket buffer fills, reading from the pod
pauses, and resumes when it drains. Memory per exchange is therefore a few socket buffers,
whatever the body size (DESIGN.md invariant 8).

Once the first response byte has been written to the client, no retry is possible; a failure
then closes the client connection, which tells the client the response was cut short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Final

from gateway.proxy import tries
from gateway.proxy.errors import (
    InvalidResponse,
    UpstreamError,
    UpstreamReset,
    UpstreamTimeout,
)
from gateway.proxy.phases import admit, prepare
from gateway.proxy.request import Client, RequestHead
from gateway.proxy.request_body import RequestBody
from gateway.proxy.response_head import client_head
from gateway.proxy.responses import CONTINUE, respond_error
from gateway.proxy.retries import StatusRetried
from gateway.proxy.upgrade import open_tunnel, switching_head
from routing.globals import GlobalConfig
from routing.model import CanaryBackend

if TYPE_CHECKING:
    from annotations.timeouts import Timeouts
    from gateway.proxy.mirror import MirrorCopy
    from gateway.proxy.protocol import DownstreamProtocol
    from gateway.proxy.ratelimit import Slot
    from gateway.proxy.retries import TryBudget
    from gateway.proxy.tunnel import Tunnel
    from gateway.proxy.upstream import UpstreamConnection
    from routing.model import Endpoint, Fallback, Route
    from routing.snapshot import Snapshot

logger = logging.getLogger(__name__)

_DEFAULT_CONFIG: Final = GlobalConfig()


class Exchange:
    """The state of one request; see the module docstring."""

    budget: TryBudget | None = None
    """The tries of the current forwarding (`gateway.proxy.tries`): conditions, count and
    time left."""
    set_cookie = b""
    """A `Set-Cookie` line for a new sticky session, added to the pod's response head."""
    auth_cookies = b""
    """The auth service's `Set-Cookie` lines, added to the pod's successful answers."""
    auth_upstream: tuple[frozenset[bytes], bytes] | None = None
    """Headers the gateway's checks give the pod (the auth service's, the client certificate's):
    (names dropped from the client's, lines added)."""
    added_headers = b""
    """Header lines the gateway adds to every answer, its own too (HSTS)."""
    replaced: frozenset[bytes] = frozenset()
    """Names of the pod's response headers that `added_headers` replace."""
    slot: Slot | None = None
    """The `limit-connections` slot this request holds, given back when it ends."""
    page: tuple[str, bytes] | None = None
    """(content type, body) of an error answer that is not the standard page."""
    mirror: MirrorCopy | None = None
    """The copy of this request on its way to the route's mirror (`gateway.proxy.mirror`)."""
    tunnel: Tunnel | None = None
    """The byte tunnel the connection became after the pod's 101 (`gateway.proxy.tunnel`)."""
    total_timer: asyncio.Timeout | None = None
    """Higress's whole-request `timeout` while it runs (a tunnel lifts it)."""
    _trying = False
    """True from a try's request until its answer is complete or it failed."""
    _endpoint: Endpoint | None = None
    """The endpoint of the try `start` made, until `inline_try_ended`."""
    _try_error: UpstreamError | None = None
    """How the try `start` made ended, for `inline_try_ended`."""
    _try_addr = ""
    """The `ip:port` of the latest try's connection, made once per connection: an endpoint's
    `hostport` would format it again for every request."""
    request_sent_at = 0.0
    """When the last of the request went to the pod: the read timeout counts from then."""
    _abandoned = False
    _ended = False

    def __init__(
        self,
        down: DownstreamProtocol,
        head: RequestHead,
        snapshot: Snapshot | None,
        early: int,
        started: float,
    ) -> None:
        self.down = down
        self.loop = down.loop
        self.head = head
        self.snapshot = snapshot
        self.config = snapshot.config if snapshot is not None else _DEFAULT_CONFIG
        self.early = early
        self.started = started
        """The loop's time when the request's first byte was parsed."""
        self.duration = 0.0
        """From `started` to the end, set when the exchange is recorded (`ProxyServer.observe`)."""
        self.route: Route | None = None
        self.target: Route | CanaryBackend | Fallback | None = None
        """What serves the request: the route, the canary chosen for it, or the route's default
        backend (labels, balancer)."""
        self.error_codes: frozenset[int] = frozenset()
        """`custom-http-errors` still to intercept (emptied once one was)."""
        self.intercepted = 0
        """The upstream status replaced by an error page, 0 when none was."""
        self.location: str | None = None
        """`Location` of a redirect the gateway answers itself."""
        self.timeouts: Timeouts | None = None
        """The route's own timeouts, over the global ones."""
        self.endpoints: tuple[Endpoint, ...] = ()
        self.client_ip = down.peer.address
        self.client: Client = (self.client_ip, False)
        """The client's address and whether the peer is a trusted proxy (`client_address`)."""
        self.body = RequestBody(head.has_body)
        self.sending = False
        """True while a try's connection takes the request body as it arrives."""
        self.continue_sent = False
        self.forward_head = b""
        """The request head as it goes upstream (`gateway.proxy.phases.prepare`)."""
        # upstream try
        self.upstream: UpstreamConnection | None = None
        self.upstream_addr = ""
        self.upstream_status = ""
        self.upstream_started = 0.0
        self.upstream_time = 0.0
        self._waiter: asyncio.Future[None] | None = None
        """What the task awaits while a try runs (None for the try `start` makes)."""
        self.active = False
        """True once this exchange runs (pipelined ones wait their turn, even to answer)."""
        self._rejected = 0
        self.got_response_byte = False
        # response
        self.status = 0
        self.response_started = False
        self.rechunk = False
        self.close_delimited = False
        self.bytes_sent = 0
        self.close_after = False
        self.finished = False

    # --- lifecycle -------------------------------------------------------------------------
    # An exchange is served in callbacks while nothing but the pod's answer is awaited: `start`
    # admits the request and makes the first try on a pooled connection, `inline_try_ended`
    # finishes it. The first step that must wait for anything else (the auth service, a new
    # connection, a retry, an error page, a whole-request timeout) hands what is left to a
    # task (`_to_task`). A task, its future and its chain of coroutines cost a usual request
    # more than its routing does (bench/RESULTS.md).
    def start(self) -> None:
        """Serve the request; `ProxyServer.start` calls it on the loop's next turn, when a
        task would have started, so the protocol's callbacks see the same order."""
        if self._abandoned:
            return  # the client went away before its turn came
        self.active = True
        try:
            if self.response_started:
                self._end()  # answered before it started (a body over the limit in one read)
                return
            status = self.early or self._rejected or admit(self)
            route = self.route
            if (
                not status
                and route is not None
                and (route.auth is not None or self.total_timeout())
            ):
                self._to_task(partial(tries.serve_admitted, self))
                return
            status = status or prepare(self)
            if status:
                respond_error(self, status)
                self._end()
                return
            now = self.loop.time()
            tries.new_budget(self, now)
            endpoint = tries.next_endpoint(self, now)
            if endpoint is None:
                respond_error(self, 502)
                self._end()
                return
            conn = tries.pooled(self, endpoint, now)
            if conn is None:
                self._to_task(partial(tries.proxy, self, endpoint, True))
                return
            self._endpoint = endpoint
            self._begin_try(conn, now)
        except Exception:
            self._failed_unexpectedly()
            self._end()

    def inline_try_ended(self) -> None:
        """The try `start` made has ended: finish the exchange, or hand the rest to a task
        (what `gateway.proxy.tries` does after a try in a task, in callbacks).
        `ProxyServer._end_all` calls it on the loop's next turn."""
        err, self._try_error = self._try_error, None
        endpoint, self._endpoint = self._endpoint, None
        if self._abandoned or endpoint is None:
            return
        try:
            if err is None:
                self.upstream_addr = tries.join(self.upstream_addr, self._try_addr)
                tries.succeeded(self, endpoint)
                if self.intercepted and not self.response_started:
                    self._to_task(partial(tries.error_page, self))
                    return
            elif isinstance(err, UpstreamReset) and tries.may_reconnect(self):
                self._to_task(partial(tries.proxy, self, endpoint, True))
                return
            elif tries.failed(self, endpoint, err):
                self._to_task(partial(tries.proxy, self, None, False, err))
                return
            elif not self.response_started:
                respond_error(self, err.status)
        except Exception:
            self._failed_unexpectedly()
        self._end()

    def _to_task(self, step: Callable[[], Awaitable[None]]) -> None:
        """Serve the rest of the exchange, `step`, in a task."""
        task = asyncio.Task(self._in_task(step), loop=self.loop, name=self.head.request_id)
        self.down.server.tasks[self] = task

    async def _in_task(self, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except asyncio.CancelledError:
            self.abandon()
            raise
        except Exception:
            self._failed_unexpectedly()
        finally:
            self._end()

    def abandon(self) -> None:
        """The client went away or the gateway stops (`ProxyServer.cancel`): drop the try in
        progress and end, from the loop's next turn as a cancelled task would."""
        if self._abandoned or self._ended:
            return
        self._abandoned = True
        if not self.active:
            return  # `start` has yet to run, and will do nothing
        if self._trying:  # the pod it was waiting on, for `$upstream_addr`
            self.upstream_addr = tries.join(self.upstream_addr, self._try_addr)
        self._stop_trying()
        if self.tunnel is not None:
            self.tunnel.close(reason="shutdown", abort=True)
        self.close_after = True
        if self.down.server.tasks.get(self) is None:
            self.loop.call_soon(self._end)  # no task to end it

    def _end(self) -> None:
        """Give back what the exchange holds and let the connection go on (once)."""
        if self._ended:
            return
        self._ended = True
        self.down.server.tasks.pop(self, None)
        if self.slot is not None:
            self.down.server.limiter.release(self.slot)
        if self.mirror is not None:
            self.mirror.abandon()
        self.finished = True
        self.down.exchange_finished(self)

    def _failed_unexpectedly(self) -> None:
        logger.exception("request %s failed unexpectedly", self.head.request_id)
        self._stop_trying()
        if self.response_started:
            self.close_after = True
        else:
            respond_error(self, 500)

    def total_timeout(self) -> float:
        """Higress's whole-request `timeout` of the route (0: none)."""
        return self.timeouts.total if self.timeouts is not None else 0.0

    async def exchange_on(self, conn: UpstreamConnection) -> None:
        self._waiter = waiter = self.loop.create_future()
        self._begin_try(conn, self.loop.time())
        await waiter
        self.upstream_addr = tries.join(self.upstream_addr, self._try_addr)

    def _begin_try(self, conn: UpstreamConnection, now: float) -> None:
        """Send the request on `conn` at the loop's time `now`; `_end_try` tells when the try
        is over."""
        self.upstream = conn
        self._try_addr = conn.hostport
        conn.exchange = self
        conn.requests += 1
        conn.last_read = now
        self.upstream_started = self.request_sent_at = now
        self.got_response_byte = False
        self._trying = True
        self.down.server.hold_send(conn)
        conn.send(self.forward_head + self.body.replay())
        self.sending = True
        if not self.body.complete:
            if self.head.expect_continue and not self.continue_sent:
                self.continue_sent = True
                self.down.write(CONTINUE)
            self.down.resume_reading()
        conn.watch(self.read_timeout(), now)

    def _end_try(self, err: UpstreamError | None = None) -> None:
        """The try is over: answered or given up (`err` None), or failed with `err`. Wakes
        the task that awaits it, or finishes in callbacks from the loop's next turn."""
        if not self._trying:
            return
        self._trying = False
        waiter, self._waiter = self._waiter, None
        if waiter is None:
            self._try_error = err
            self.down.server.end_soon(self)
        elif waiter.done():
            pass  # its task was cancelled
        elif err is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(err)

    def _stop_trying(self) -> None:
        """Leave the try in progress, if any, without an answer."""
        self._trying = False
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            self.down.server.chooser.finished(endpoint, None)
        self.drop_upstream()

    def add_upstream_headers(self, names: frozenset[bytes], lines: bytes) -> None:
        """Give the pod `lines`, dropping the client's headers of `names`."""
        dropped, added = self.auth_upstream or (frozenset(), b"")
        self.auth_upstream = (dropped | names, added + lines)

    # --- request body, from the downstream protocol -----------------------------------------
    def feed_body(self, chunk: bytes) -> None:
        """A piece of the request body (de-chunked by the parser)."""
        if self.body.arrived(len(chunk)):
            self._body_too_large()
            return
        self._send_body(b"%x\r\n%b\r\n" % (len(chunk), chunk) if self.head.chunked else chunk)

    def body_complete(self) -> None:
        """The request body (if any) has been received completely."""
        self.body.complete = True
        if self.head.chunked and not self.finished:
            self._send_body(b"0\r\n\r\n")
        if self.sending:
            self.request_sent_at = self.loop.time()
        if self.mirror is not None:
            self.mirror.body_done()

    def _send_body(self, data: bytes) -> None:
        if self.mirror is not None:
            self.mirror.feed(data)
        if self.body.discard:
            return
        if self.body.keep(data, self.sending):
            self.down.pause_reading()  # nothing takes the body yet: stop reading it
        elif self.sending:
            conn = self.upstream
            if conn is not None and not conn.closed:
                conn.send(data)

    def _body_too_large(self) -> None:
        self.body.complete = True
        self.close_after = True
        if self.response_started:
            return
        if not self.active:
            self._rejected = 413  # queued behind another request: answer in turn
            return
        self.drop_upstream()
        self._end_try()
        respond_error(self, 413)

    # --- response, from the upstream connection ---------------------------------------------
    def on_response_head(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], keep_alive: bool
    ) -> None:
        """The pod's response head: re-serialise it for the client."""
        self.got_response_byte = True
        if status == 101:
            self._switch(reason, headers)
            return
        budget = self.budget
        if budget is not None and status in budget.statuses:
            retried = StatusRetried(status)
            if tries.may_retry(self, retried):
                self.upstream_failed(retried)  # dropped unread; the next pod is tried in a task
                return
        if status in self.error_codes:
            self._intercept(status)
            return
        try:
            head = client_head(self, status, reason, headers)
        except InvalidResponse as err:
            self.upstream_failed(err)
            if self.upstream is not None:
                self.upstream.close()
            return
        self.status = status
        self.upstream_status = tries.join(self.upstream_status, str(status))
        self.upstream_time = self._upstream_read_time() - self.upstream_started
        self.response_started = True
        self.down.write(head)
        if self.head.method == "HEAD":
            # httptools cannot be told a HEAD response has no body: finish here, never reuse.
            self._complete(reusable=False)

    def _switch(self, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """The pod's 101: check it answers the offer, pass it on, and become a tunnel."""
        conn = self.upstream
        assert conn is not None
        try:
            head, switched = switching_head(self, reason, headers)
        except InvalidResponse as err:
            self.upstream_failed(err)
            conn.close()
            return
        self.status = 101
        self.upstream_status = tries.join(self.upstream_status, "101")
        self.upstream_time = self._upstream_read_time() - self.upstream_started
        self.response_started = self.close_after = True
        self.down.write(head)
        self.upstream, conn.exchange, self.sending = None, None, False
        if self.total_timer is not None:
            self.total_timer.reschedule(None)  # Envoy's route timeout ends with the response head
        self.tunnel = open_tunnel(self, conn, switched)

    def tunnel_ended(self) -> None:
        """The tunnel closed: the exchange ends, counting the bytes it carried."""
        tunnel = self.tunnel
        assert tunnel is not None
        self.bytes_sent += tunnel.to_client
        self.body.received += tunnel.to_pod
        self._end_try()

    def _intercept(self, status: int) -> None:
        """An upstream status listed in `custom-http-errors`: drop this response unread (its
        connection cannot be reused) and let `inline_try_ended` or `tries.proxy` fetch the error
        page."""
        self.error_codes = frozenset()
        self.intercepted = status
        self.upstream_status = tries.join(self.upstream_status, str(status))
        self.body.discard = True
        if not self.body.complete:
            self.close_after = True  # the rest of the body is read nowhere
        self.drop_upstream()
        self._end_try()

    def on_response_body(self, body: bytes) -> None:
        """A piece of the response body: straight to the client."""
        if not self.response_started or self.finished:
            return
        self.bytes_sent += len(body)
        if self.rechunk:
            self.down.write(b"%x\r\n%b\r\n" % (len(body), body))
        else:
            self.down.write(body)

    def on_response_complete(self, keep_alive: bool) -> None:
        """The pod's response ended as its framing said."""
        if not self.response_started:
            return
        # After an upgrade offer the pod may consider the connection its own: never reused.
        self._complete(reusable=keep_alive and self.body.complete and not self.head.upgrade)

    def upstream_eof(self) -> None:
        """The pod closed its side: the end of a close-delimited body, or a failure."""
        if self.response_started and self.close_delimited:
            self._complete(reusable=False)
        else:
            self.upstream_failed(UpstreamReset("the pod closed the connection early"))

    def upstream_failed(self, err: UpstreamError) -> None:
        """The try failed: before the response started it may be retried, after it cannot."""
        if not self._trying:
            return
        self.drop_upstream()
        if self.response_started:
            self.close_after = True  # the client sees the response cut short
            self._end_try()
        else:
            self._end_try(err)

    def _complete(self, *, reusable: bool) -> None:
        if self.rechunk:
            self.down.write(b"0\r\n\r\n")
            self.rechunk = False
        conn, self.upstream = self.upstream, None
        if conn is not None:
            conn.exchange = None
            if reusable and not conn.closed:
                self.down.server.pool.release(
                    conn, max_idle=self.config.upstream_keepalive_connections
                )
            else:
                conn.close()
        self._end_try()

    def drop_upstream(self) -> None:
        conn, self.upstream = self.upstream, None
        self.sending = False
        if conn is not None:
            conn.exchange = None
            conn.abort()

    # --- flow control -----------------------------------------------------------------------
    def pause_client_reading(self) -> None:
        """The pod is not taking the request body fast enough."""
        self.down.pause_reading()

    def resume_client_reading(self) -> None:
        """The pod takes the request again: read more of the client's body, or, when it is all
        here, note that the rest of the request has now gone to the pod (`check_timeout`)."""
        if not self.body.complete:
            self.down.resume_reading()
        else:
            self.request_sent_at = self.loop.time()

    def client_paused(self) -> None:
        """The client is not taking the response fast enough."""
        if self.upstream is not None:
            self.upstream.pause_reading()

    def client_resumed(self) -> None:
        """The client takes the response again."""
        if self.upstream is not None:
            self.upstream.resume_reading()

    # --- timeouts ---------------------------------------------------------------------------
    # The route's own timeouts (`annotations.timeouts`) over the ConfigMap's.
    def connect_timeout(self) -> float:
        return (self.timeouts and self.timeouts.connect) or self.config.proxy_connect_timeout

    def send_timeout(self) -> float:
        return (self.timeouts and self.timeouts.send) or self.config.proxy_send_timeout

    def _upstream_read_time(self) -> float:
        """When the pod's latest bytes were read: the response head's time, without reading
        the clock again in the callback that parses it."""
        conn = self.upstream
        return conn.last_read if conn is not None else self.loop.time()

    def read_timeout(self) -> float:
        return (self.timeouts and self.timeouts.read) or self.config.proxy_read_timeout

    def check_timeout(self, conn: UpstreamConnection) -> None:
        """The connection's timer fired (`UpstreamConnection.watch`): fail the try when the pod
        took none of the request (send timeout, from when writes blocked) or sent nothing (read
        timeout, once the request is all sent, as nginx's) for too long; else re-arm."""
        if conn is not self.upstream or self.finished:
            return
        now = self.loop.time()
        if self.down.write_paused or not (conn.write_paused or self.body.complete):
            # Waiting on the client, not the pod: `client-body-timeout` bounds a slow body.
            conn.watch(self.read_timeout(), now)
            return
        sending = conn.write_paused
        if sending:
            limit, since = self.send_timeout(), conn.write_paused_since
        else:
            limit, since = self.read_timeout(), max(conn.last_read, self.request_sent_at)
        idle = now - since
        if idle < limit:
            conn.watch(limit - idle, now)
            return
        what = "the pod took none of the request" if sending else "no data from the pod"
        self.upstream_failed(UpstreamTimeout(f"{what} for {limit:g}s"))
