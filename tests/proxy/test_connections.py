"""Keep-alive, upstream connection reuse, pipelining, HTTP/1.0 and per-connection limits."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest

from tests.proxy.harness import GatewayUnderTest, Recorded, exchange, get, manifests, response
from tests.proxy.process import http_get

pytestmark = pytest.mark.asyncio


async def test_client_keep_alive_serves_several_requests_on_one_connection(
    upstreams, gateway
) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    for i in range(3):
        writer.write(get("app.test", f"/r{i}"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head
        assert await reader.readexactly(3) == f"/r{i}".encode()
    writer.close()


async def test_upstream_connections_are_reused(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    for _ in range(5):
        [resp] = await exchange(gw.port, get("app.test"))
        assert resp.status == 200
    assert up.connections == 1
    assert len(up.requests) == 5


async def test_pipelined_requests_are_answered_in_order(upstreams, gateway) -> None:
    async def slow_first(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3 if request.target == "/1" else 0)
        writer.write(response(200, request.target.encode()))

    up = await upstreams(slow_first)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    raw = b"".join(get("app.test", f"/{i}") for i in range(1, 4))
    responses = await exchange(gw.port, raw, responses=3)
    assert [r.body for r in responses] == [b"/1", b"/2", b"/3"]
    assert gw.gateway is not None and not gw.gateway.proxy.tasks  # each took itself out


async def test_stale_pooled_connection_is_retried_transparently(upstreams, gateway) -> None:
    async def close_after_response(request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(response(200, b"ok"))  # says keep-alive, then closes while idle
        await writer.drain()
        asyncio.get_running_loop().call_later(0.05, writer.transport.abort)

    up = await upstreams(close_after_response)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    for _ in range(3):
        [resp] = await exchange(gw.port, get("app.test"))
        assert resp.status == 200
        await asyncio.sleep(0.1)
    assert up.connections == 3


async def test_a_pooled_connection_reset_on_reuse_is_retried_once_on_a_fresh_one(
    upstreams, gateway
) -> None:
    """The pod closed a kept-alive connection just as the gateway reused it: the request goes
    again on a fresh connection to the same pod, without counting a try (one endpoint only)."""

    async def reset_on_reuse(request: Recorded, writer: asyncio.StreamWriter) -> None:
        if request.connection == 1 and request.target == "/again":
            writer.transport.abort()
            return
        writer.write(response(200, b"ok"))

    up = await upstreams(reset_on_reuse)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [first] = await exchange(gw.port, get("app.test"))
    [again] = await exchange(gw.port, get("app.test", "/again"))
    assert (first.status, again.status) == (200, 200)
    assert [(r.target, r.connection) for r in up.requests] == [
        ("/", 1),
        ("/again", 1),
        ("/again", 2),
    ]


async def test_keep_alive_requests_limit_closes_the_connection(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"keep-alive-requests": "2"})
    )
    responses = await exchange(gw.port, get("app.test") * 3, responses=3)
    assert [r.status for r in responses] == [200, 200]
    assert responses[-1].header("Connection") == "close" and responses[-1].closed


async def test_connection_close_from_client_is_honoured(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    raw = get("app.test", headers=[("Connection", "close")]) + get("app.test", "/ignored")
    responses = await exchange(gw.port, raw, responses=2)
    assert len(responses) == 1 and responses[0].closed
    assert [r.target for r in up.requests] == ["/"]


async def test_http10_closes_unless_keep_alive_is_asked(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test", version="1.0"))
    assert resp.status == 200 and resp.closed
    raw = get("app.test", version="1.0", headers=[("Connection", "keep-alive")]) * 2
    responses = await exchange(gw.port, raw, responses=2)
    assert [r.status for r in responses] == [200, 200]
    assert responses[0].header("Connection") == "keep-alive"


async def test_idle_keep_alive_connection_is_closed(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"keep-alive": "1"})
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(get("app.test"))
    await reader.readuntil(b"\r\n\r\n")
    async with asyncio.timeout(3):
        rest = await reader.read()  # returns at EOF: the gateway closed the idle connection
    assert rest == b"/"
    writer.close()


async def test_slow_header_gets_408(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests(
            [("app.test", "/", "Prefix", [up.port])], configmap={"client-header-timeout": "1"}
        )
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: app.test\r\n")  # never finishes the head
    async with asyncio.timeout(3):
        answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer
    writer.close()


async def test_slow_header_after_a_request_gets_408(upstreams, gateway) -> None:
    """The connection's timer outlives the first request (it is re-armed lazily): a later
    request's head deadline must still bring it forward."""
    up = await upstreams()
    gw = await gateway(
        manifests(
            [("app.test", "/", "Prefix", [up.port])], configmap={"client-header-timeout": "1"}
        )
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(get("app.test"))
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(1.2)  # idle: the timer is now set for the keep-alive time (75 s)
    writer.write(b"GET / HTTP/1.1\r\nHost: app.test\r\n")  # never finishes the head
    async with asyncio.timeout(3):
        answer = await reader.read()
    assert b"HTTP/1.1 408" in answer
    writer.close()


async def test_round_robin_spreads_requests_evenly(upstreams, gateway) -> None:
    pods = [await upstreams() for _ in range(3)]
    gw = await gateway(manifests([("app.test", "/", "Prefix", [p.port for p in pods])]))
    for _ in range(30):
        [resp] = await exchange(gw.port, get("app.test"))
        assert resp.status == 200
    assert [len(p.requests) for p in pods] == [10, 10, 10]


async def test_upstream_keepalive_off_opens_a_connection_per_request(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests(
            [("app.test", "/", "Prefix", [up.port])],
            configmap={"upstream-keepalive-connections": "0"},
        )
    )
    for _ in range(3):
        await exchange(gw.port, get("app.test"))
    assert up.connections == 3


async def test_stalled_request_body_gets_408(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"client-body-timeout": "1"})
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\nabc")
    async with asyncio.timeout(5):
        answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer
    writer.close()


async def test_upstream_connection_retires_after_its_request_limit(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests(
            [("app.test", "/", "Prefix", [up.port])], configmap={"upstream-keepalive-requests": "2"}
        )
    )
    for _ in range(4):
        [resp] = await exchange(gw.port, get("app.test"))
        assert resp.status == 200
    assert up.connections == 2


@pytest.mark.parametrize("pooled", [True, False], ids=["served-in-callbacks", "served-in-a-task"])
async def test_a_client_that_goes_away_gives_back_what_its_request_held(
    upstreams, gateway, pooled: bool
) -> None:
    """A request on an idle pooled connection is served in callbacks; the first one to a pod
    waits for a new connection in a task. Either way, a client that resets its connection in
    the middle of its body frees its `limit-connections` slot and the pod's connection."""
    up = await upstreams()
    gw = await gateway(
        manifests(
            [("app.test", "/", "Prefix", [up.port])],
            annotations={"nginx.ingress.kubernetes.io/limit-connections": "1"},
        )
    )
    if pooled:
        [warm] = await exchange(gw.port, get("app.test"))
        assert warm.status == 200
    proxy = gw.gateway.proxy
    _, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(get("app.test", "/upload", method="POST", body=b"0123456789")[:-5])
    while b"01234" not in up.raw:  # the pod is taking the body
        await asyncio.sleep(0.01)
    [serving] = proxy.tasks.values()
    assert (serving is None) is pooled  # None: no task
    linger_off = struct.pack("ii", 1, 0)  # close with a reset: a FIN may be a half-close
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_off)
    writer.transport.abort()
    for _ in range(500):
        if not proxy.tasks:
            break
        await asyncio.sleep(0.01)
    assert not proxy.tasks
    [again] = await exchange(gw.port, get("app.test"))
    assert again.status == 200  # the slot was given back
    assert up.connections == 2  # the pod's connection was dropped, not pooled
    assert [r.target for r in up.requests] == ["/"] * (2 if pooled else 1)


async def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a reset, as a killed client's kernel may: a FIN may be a half-close."""
    linger_off = struct.pack("ii", 1, 0)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_off)
    writer.transport.abort()


async def _only_log_entry(gw: GatewayUnderTest) -> dict[str, Any]:
    """The access log's one line, once it is there (at most 2 s)."""
    for _ in range(200):
        if gw.access_log():
            break
        await asyncio.sleep(0.01)
    [entry] = gw.access_log()
    return entry


async def test_a_request_its_client_abandons_is_logged_and_counted_as_499(
    upstreams, gateway
) -> None:
    """As nginx's 499 ("client closed request"): a client that goes away before its answer
    still leaves its request in the access log and in gateway_requests_total."""

    async def slow(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)
        writer.write(response())

    up = await upstreams(slow)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    _, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(get("app.test", "/gone"))
    while not up.requests:
        await asyncio.sleep(0.01)
    await _reset(writer)
    entry = await _only_log_entry(gw)
    assert (entry["path"], entry["status"], entry["bytes_sent"]) == ("/gone", 499, 0)
    assert entry["upstream_addr"] == f"127.0.0.1:{up.port}"
    _, metrics = await asyncio.to_thread(http_get, f"http://127.0.0.1:{gw.admin_port}/metrics")
    assert 'method="GET",namespace="default",service="svc0",status="499"} 1.0' in metrics.decode()


async def test_a_response_its_client_abandons_is_logged_with_the_bytes_it_got(
    upstreams, gateway
) -> None:
    """A client that goes away in the middle of the body: the pod's status, as nginx logs it,
    and the bytes sent so far."""

    async def stalls(request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        await writer.drain()
        await asyncio.sleep(1)

    up = await upstreams(stalls)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(get("app.test", "/half"))
    received = b""
    while not received.endswith(b"x" * 10):
        received += await reader.read(4096)
    await _reset(writer)
    entry = await _only_log_entry(gw)
    assert (entry["path"], entry["status"], entry["bytes_sent"]) == ("/half", 200, 10)
