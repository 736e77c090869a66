"""Limits and malformed requests (reliability.md §1.5, §2): the status nginx users expect, the
connection closed, and nothing forwarded to the pod."""

from __future__ import annotations

import pytest

from tests.proxy.harness import exchange, get, manifests

pytestmark = pytest.mark.asyncio

H = b"Host: app.test\r\n"
CASES = [
    pytest.param(
        b"POST / HTTP/1.1\r\n"
        + H
        + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        id="cl-and-te",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        400,
        id="duplicate-cl",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", 400, id="signed-cl"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
        id="te-gzip-chunked",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
        501,
        id="te-comma-chunked",
    ),
    pytest.param(
        b"POST / HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        id="te-in-http10",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        id="bad-chunk-size",
    ),
    pytest.param(
        b"GET /x\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello", 400, id="http09-with-headers"
    ),
    pytest.param(b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505, id="http2-request-line"),
    pytest.param(b"GET / HTTP/1.1\r\n" + H + H + b"\r\n", 400, id="two-hosts"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="no-host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, id="empty-host"),
    pytest.param(b"GET http://u@app.test/ HTTP/1.1\r\n" + H + b"\r\n", 400, id="userinfo"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: user@app.test\r\n\r\n", 400, id="host-with-at"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: app test\r\n\r\n", 400, id="host-with-space"),
    pytest.param(b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", 400, id="asterisk-form"),
    pytest.param(b"GET /a#frag HTTP/1.1\r\n" + H + b"\r\n", 400, id="fragment"),
    pytest.param(b"GET /../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n", 400, id="dot-dot-above-root"),
    pytest.param(b"GET /%zz HTTP/1.1\r\n" + H + b"\r\n", 400, id="bad-escape"),
    pytest.param(b"GET / HTTP/1.1\nHost: app.test\n\n", 400, id="bare-lf"),
    pytest.param(b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400, id="obs-fold"),
    pytest.param(b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400, id="nul-in-value"),
    pytest.param(b"GET / HTTP/1.1\r\n" + H + b"X : a\r\n\r\n", 400, id="space-before-colon"),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + H + b"Authorization: a\r\nAuthorization: b\r\n\r\n",
        400,
        id="duplicate-authorization",
    ),
    pytest.param(b"CONNECT app.test:443 HTTP/1.1\r\n" + H + b"\r\n", 405, id="connect"),
    pytest.param(b"TRACE / HTTP/1.1\r\n" + H + b"\r\n", 405, id="trace"),
    pytest.param(b"GET / HTTP/1.1\r\n" + H + b"Expect: 200-ok\r\n\r\n", 417, id="unknown-expect"),
    pytest.param(b"G\x01T / HTTP/1.1\r\n" + H + b"\r\n", 400, id="bad-method"),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + H + b"\r\n".join(b"X-%d: v" % i for i in range(101)) + b"\r\n\r\n",
        431,
        id="101-headers",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + H + b"X: " + b"v" * 40000 + b"\r\n\r\n", 431, id="head-over-32k"
    ),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, id="uri-over-8k"),
    pytest.param(
        b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, id="uri-over-head-limit"
    ),
]


@pytest.mark.parametrize(("raw", "status"), CASES)
async def test_rejected_and_closed_and_never_forwarded(
    upstreams, gateway, raw: bytes, status: int
) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, raw)
    assert resp.status == status
    assert resp.closed
    assert up.requests == []


async def test_the_limits_follow_large_client_header_buffers(upstreams, gateway) -> None:
    """`large-client-header-buffers: 2 1k`: a request target over 1 KiB is 414, a head over
    2 KiB is 431; a request just under both is served."""
    up = await upstreams()
    config = {"large-client-header-buffers": "2 1k"}
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])], configmap=config))
    under = b"GET /" + b"a" * 900 + b" HTTP/1.1\r\n" + H + b"X: " + b"v" * 900 + b"\r\n\r\n"
    [resp] = await exchange(gw.port, under)
    assert resp.status == 200
    [resp] = await exchange(gw.port, b"GET /" + b"a" * 1100 + b" HTTP/1.1\r\n" + H + b"\r\n")
    assert resp.status == 414 and resp.closed
    over = b"GET / HTTP/1.1\r\n" + H + b"X: " + b"v" * 2100 + b"\r\n\r\n"
    [resp] = await exchange(gw.port, over)
    assert resp.status == 431 and resp.closed
    assert len(up.requests) == 1


async def test_head_limit_holds_when_the_head_trickles_in(upstreams, gateway) -> None:
    """Limits count bytes received: a head sent in small pieces is cut at the limit too."""
    import asyncio

    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: app.test\r\nX: ")
    for _ in range(500):  # 50 KB in 100-byte pieces, never a complete head
        writer.write(b"v" * 100)
        await writer.drain()
    async with asyncio.timeout(5):
        answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 431")
    assert up.requests == []
    writer.close()


async def test_tolerated_oddities_are_normalised(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    raw = b"GET  /a//b HTTP/1.1\r\nHost: app.test \t\r\nContent-Length:\t0\t\r\nX-Pad: v  \r\n\r\n"
    [resp] = await exchange(gw.port, raw)
    assert resp.status == 200
    req = up.requests[0]
    assert req.header("Host") == "app.test" and req.header("X-Pad") == "v"


async def test_data_after_connection_close_is_ignored(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    raw = get("app.test", headers=[("Connection", "close")]) + b"GARBAGE\r\n\r\n"
    [resp] = await exchange(gw.port, raw)
    assert resp.status == 200 and resp.closed


async def test_upgrade_without_connection_upgrade_is_plain_http_without_it(
    upstreams, gateway
) -> None:
    """reliability.md §2 row 43 (offers the pod may accept: tests/proxy/test_upgrade.py)."""
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    raw = get("app.test", "/ws", headers=[("Connection", "keep-alive"), ("Upgrade", "websocket")])
    responses = await exchange(gw.port, raw + get("app.test", "/next"), responses=2)
    assert [r.status for r in responses] == [200, 200]
    assert "upgrade" not in up.requests[0].names()
    assert [r.target for r in up.requests] == ["/ws", "/next"]


async def test_pipelined_request_after_a_bad_one_is_not_served(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    raw = get("app.test", "/first") + b"GET /bad HTTP/1.1\r\n\r\n" + get("app.test", "/never")
    responses = await exchange(gw.port, raw, responses=3)
    assert [r.status for r in responses] == [200, 400]
    assert [r.target for r in up.requests] == ["/first"]
