"""Request and response bodies: framing, 100-continue, size limits, bodiless responses."""

from __future__ import annotations

import asyncio

import pytest

from tests.proxy.harness import Recorded, exchange, get, manifests, response

pytestmark = pytest.mark.asyncio


async def echo_body(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(response(200, request.body))


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n" + trailer + b"\r\n"


async def test_content_length_body_is_forwarded_exactly(upstreams, gateway) -> None:
    up = await upstreams(echo_body)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    body = bytes(range(256)) * 100
    [resp] = await exchange(gw.port, get("app.test", method="PUT", body=body))
    assert resp.body == body
    assert up.requests[0].header("Content-Length") == str(len(body))


async def test_chunked_body_is_rechunked_and_trailers_dropped(upstreams, gateway) -> None:
    up = await upstreams(echo_body)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    raw = b"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(
        b"hello ", b"world", trailer=b"Host: evil.test\r\n"
    )
    [resp] = await exchange(gw.port, raw)
    assert resp.body == b"hello world"
    req = up.requests[0]
    assert req.header("Transfer-Encoding") == "chunked" and req.header("Content-Length") is None
    assert b"evil" not in up.raw


async def test_post_without_body_gets_content_length_zero(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    await exchange(gw.port, get("app.test", method="POST"))
    assert up.requests[0].header("Content-Length") == "0"


async def test_expect_continue_is_answered_before_the_body_is_sent(upstreams, gateway) -> None:
    up = await upstreams(echo_body)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(
        b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(5) == b"hello"
    assert up.requests[0].header("Expect") is None
    writer.close()


async def test_unknown_expectation_is_417(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test", headers=[("Expect", "teapot")]))
    assert resp.status == 417 and resp.closed


async def test_declared_body_over_the_limit_is_413_before_it_is_read(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "1k"})
    )
    raw = (
        b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n"
    )
    [resp] = await exchange(gw.port, raw)
    assert resp.status == 413 and resp.closed
    assert b"100 Continue" not in resp.raw
    assert up.requests == []


async def test_chunked_body_over_the_limit_is_413(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "1k"})
    )
    raw = b"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(
        b"x" * 800, b"y" * 800
    )
    [resp] = await exchange(gw.port, raw)
    assert resp.status == 413 and resp.closed


async def test_default_body_limit_is_1m_and_zero_means_unlimited(upstreams, gateway) -> None:
    up = await upstreams(keep_body=False)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    big = b"z" * (1024 * 1024 + 1)
    [resp] = await exchange(gw.port, get("app.test", method="POST", body=big))
    assert resp.status == 413
    await gw.update(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "0"})
    )
    [resp] = await exchange(gw.port, get("app.test", method="POST", body=big * 3))
    assert resp.status == 200


@pytest.mark.parametrize("client_version", ["1.1", "1.0"])
async def test_chunked_and_close_delimited_responses(upstreams, gateway, client_version) -> None:
    async def streamed(request: Recorded, writer: asyncio.StreamWriter) -> None:
        if request.target == "/chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"ab", b"cd")
            )
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof")
            await writer.drain()
            writer.close()

    up = await upstreams(streamed)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    for target, body in (("/chunked", b"abcd"), ("/eof", b"until-eof")):
        [resp] = await exchange(gw.port, get("app.test", target, version=client_version))
        assert resp.status == 200 and resp.body == body
        if client_version == "1.1":
            assert resp.header("Transfer-Encoding") == "chunked"
        else:
            assert resp.header("Transfer-Encoding") is None and resp.closed


async def test_head_and_bodiless_statuses_keep_the_connection_usable(upstreams, gateway) -> None:
    async def bodiless(request: Recorded, writer: asyncio.StreamWriter) -> None:
        if request.method == "HEAD":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        elif request.target == "/204":
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif request.target == "/304":
            writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n')
        else:
            writer.write(response(200, b"after"))

    up = await upstreams(bodiless)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [head] = await exchange(gw.port, get("app.test", method="HEAD"), head_request=True)
    assert head.status == 200 and head.header("Content-Length") == "1000" and not head.closed
    raw = get("app.test", "/204") + get("app.test", "/304") + get("app.test", "/after")
    responses = await exchange(gw.port, raw, responses=3)
    assert [r.status for r in responses] == [204, 304, 200]
    assert responses[2].body == b"after"


async def test_queued_request_over_the_limit_is_answered_in_turn(upstreams, gateway) -> None:
    async def slow(request: Recorded, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        writer.write(response(200, b"first"))

    up = await upstreams(slow)
    gw = await gateway(
        manifests([("app.test", "/", "Prefix", [up.port])], configmap={"proxy-body-size": "1k"})
    )
    second = (
        b"POST /big HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(b"x" * 800, b"y" * 800)
    )
    responses = await exchange(gw.port, get("app.test", "/first") + second, responses=2)
    assert [r.status for r in responses] == [200, 413]
    assert responses[0].body == b"first"
    assert [r.target for r in up.requests] == ["/first"]
