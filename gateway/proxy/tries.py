"""The tries of one exchange: which endpoint each goes to, on which connection, and what its
end allows, under nginx's `proxy_next_upstream` rules (`gateway.proxy.retries`).

`Exchange.start` makes the first try of a usual request in callbacks with the helpers below.
Everything that must wait for more than a pod's answer runs here in a task (`Exchange._to_task`):
authentication, a whole-request timeout, a new connection, another try, an error page.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from gateway.proxy.affinity import set_cookie
from gateway.proxy.errors import UpstreamError, UpstreamReset
from gateway.proxy.phases import authorize, error_page_request, prepare
from gateway.proxy.podtls import server_name
from gateway.proxy.responses import respond_error
from gateway.proxy.retries import TryBudget

if TYPE_CHECKING:
    from annotations.connections import ConnectionPolicy
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.upstream import UpstreamConnection
    from routing.model import Endpoint
    from routing.podtls import PodTls

logger = logging.getLogger(__name__)


# --- one try, in callbacks or in a task ---------------------------------------------------------
# `now` is the loop's time, read once by the caller for the steps of a try: reading the clock
# was a tenth of the time of the calls that need it.
def new_budget(ex: Exchange, now: float) -> None:
    own = ex.route.retries if ex.route is not None else None
    ex.budget = TryBudget(own, ex.config, len(ex.endpoints), now)


def next_endpoint(ex: Exchange, now: float) -> Endpoint | None:
    """The endpoint of the next try, counted as tried and started; None when the tries, their
    time or the endpoints are spent (or the answer has begun)."""
    budget = ex.budget
    assert budget is not None and ex.target is not None
    if not budget.another_try(now) or ex.response_started:
        return None
    chooser = ex.down.server.chooser
    endpoint, session = chooser.pick(
        ex.target, ex.endpoints, budget.tried, ex.head, ex.client_ip, now
    )
    if endpoint is None:
        return None
    if session is not None:
        ex.set_cookie = set_cookie(*session, ex.route, ex.head, ex.down.peer)
    budget.tried.add(endpoint)
    chooser.started(endpoint)
    return endpoint


def pooled(ex: Exchange, endpoint: Endpoint, now: float) -> UpstreamConnection | None:
    """An idle pooled connection to `endpoint` that may take this request."""
    config = ex.config
    policy, pods = _pod_settings(ex)
    return ex.down.server.pool.take_idle(
        endpoint,
        now,
        max_age=config.upstream_keepalive_timeout,
        max_requests=(policy and policy.max_requests) or config.upstream_keepalive_requests,
        tls_key=pods.key if pods is not None else "",
    )


def succeeded(ex: Exchange, endpoint: Endpoint) -> None:
    time = ex.upstream_time if ex.got_response_byte else None
    ex.down.server.chooser.finished(endpoint, time)


def failed(ex: Exchange, endpoint: Endpoint, err: UpstreamError) -> bool:
    """Count a failed try; whether another endpoint may be tried."""
    ex.down.server.chooser.failed(
        endpoint, ex.endpoints, ex.loop.time(), ex.config, unhealthy=err.unhealthy
    )
    logger.warning("request %s to %s failed: %s", ex.head.request_id, endpoint.hostport, err)
    ex.upstream_status = join(ex.upstream_status, str(err.status))
    ex.upstream_addr = join(ex.upstream_addr, endpoint.hostport)
    return may_retry(ex, err)


def may_retry(ex: Exchange, err: UpstreamError) -> bool:
    budget = ex.budget
    assert budget is not None
    return budget.may_retry(err, ex.head.method, ex.body.replayable, ex.loop.time())


def may_reconnect(ex: Exchange) -> bool:
    """Whether a pooled connection's reset is retried once on a fresh connection to the same
    pod, without counting a try: the pod closed it while idle, as we reused it. Only a close:
    a pod slow to answer is slow on a fresh connection too, and a second wait would double
    its read timeout (nginx retries only errors)."""
    return not ex.got_response_byte and ex.body.replayable


def join(previous: str, value: str) -> str:
    """nginx's `$upstream_addr` / `$upstream_status` form: one entry per try."""
    return f"{previous}, {value}" if previous else value


def _pod_settings(ex: Exchange) -> tuple[ConnectionPolicy | None, PodTls | None]:
    """MSE's connection policy (for the route's own Service) and the pods' TLS."""
    route, target = ex.route, ex.target
    assert route is not None
    policy = route.connections if target is route else None
    pods = route.pod_tls if target is not route.fallback else None
    return policy, pods


# --- the steps that run in a task ---------------------------------------------------------------
async def serve_admitted(ex: Exchange) -> None:
    """The admitted request of a route with authentication or a whole-request timeout."""
    route = ex.route
    assert route is not None
    status = await authorize(ex) if route.auth is not None else 0
    status = status or prepare(ex)
    limit = ex.total_timeout()
    if status:
        respond_error(ex, status)
    elif limit:
        await _proxy_within(ex, limit)
    else:
        await proxy(ex)


async def proxy(
    ex: Exchange,
    first: Endpoint | None = None,
    fresh: bool = False,
    error: UpstreamError | None = None,
) -> None:
    """Forward to the route's pods (`_forward`), then fetch an error page if one was asked
    for. Going on after `Exchange.start`'s try: `first` is the endpoint it chose, to try again
    on a `fresh` connection, or `error` its failure."""
    await _forward(ex, first, fresh, error)
    if ex.intercepted and not ex.response_started:
        await error_page(ex)


async def error_page(ex: Exchange) -> None:
    """`custom-http-errors`: ask the default backend for the page in place of the upstream's
    answer; without one (or without its endpoints), the gateway's own page for the code."""
    if not error_page_request(ex):
        respond_error(ex, ex.intercepted)
        return
    ex.body.forget()
    ex.continue_sent = True
    await _forward(ex)


async def _proxy_within(ex: Exchange, limit: float) -> None:
    """`proxy` under Higress's whole-request `timeout`: 504 when it expires before the
    response started, a cut connection after (Envoy's route timeout)."""
    try:
        async with asyncio.timeout(limit) as ex.total_timer:
            await proxy(ex)
    except TimeoutError:
        ex.drop_upstream()
        ex.upstream_status = join(ex.upstream_status, "504")
        if ex.response_started:
            ex.close_after = True
        else:
            respond_error(ex, 504)


async def _forward(
    ex: Exchange,
    first: Endpoint | None = None,
    fresh: bool = False,
    error: UpstreamError | None = None,
) -> None:
    """Try endpoints under the retry rules (`proxy` says what `first`, `fresh` and `error`
    are)."""
    if first is None and error is None:
        new_budget(ex, ex.loop.time())
    chooser = ex.down.server.chooser
    endpoint = first
    while True:
        if endpoint is None:
            endpoint, fresh = next_endpoint(ex, ex.loop.time()), False
            if endpoint is None:
                break
        try:
            await _try(ex, endpoint, fresh)
        except UpstreamError as err:
            error = err
            if not failed(ex, endpoint, err):
                break
            endpoint = None
            continue
        except BaseException:
            chooser.finished(endpoint, None)
            raise
        succeeded(ex, endpoint)
        return
    if not ex.response_started:
        respond_error(ex, error.status if error is not None else 502)


async def _try(ex: Exchange, endpoint: Endpoint, fresh: bool) -> None:
    if not fresh:
        conn = pooled(ex, endpoint, ex.loop.time())
        if conn is not None:
            try:
                await ex.exchange_on(conn)
                return
            except UpstreamReset:
                if not may_reconnect(ex):
                    raise
    target = ex.target
    assert target is not None
    policy, pods = _pod_settings(ex)
    tls = None
    if pods is not None:
        tls = (pods.key, ex.down.server.pod_contexts.context(pods), server_name(pods))
    pool = ex.down.server.pool
    conn = await pool.connect(endpoint, ex.connect_timeout(), target.backend, policy, tls)
    if ex.response_started:  # answered while connecting (a body over the limit)
        conn.close()
        return
    await ex.exchange_on(conn)
