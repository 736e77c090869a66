"""WebSocket and other `Upgrade` requests (issue 7 §9): a byte tunnel after the pod's 101, with
flow control, idle timeouts and metrics; a refused or forged upgrade stays plain HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from gateway.proxy.upgrade import websocket_accept
from tests.proxy.harness import GatewayUnderTest, Upstream, cluster, exchange, get, ingress

pytestmark = pytest.mark.asyncio

MiB = 1024 * 1024
KEY = base64.b64encode(b"0123456789abcdef").decode()


# --- pods ----------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def websocket_pod() -> AsyncIterator[int]:
    """A real WebSocket server (aiohttp) on /ws: echoes binary messages; the text `push` makes
    it send 1 MiB of its own; `close` makes it close."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data)
            elif message.data == "push":
                await ws.send_bytes(b"p" * MiB)
            elif message.data == "close":
                await ws.close()
            else:
                await ws.send_str(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


RawPod = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_pod(answer: RawPod) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A pod that reads one request head and lets `answer` speak raw bytes from there; yields
    its port and every head and byte it received (to prove what did or did not reach it)."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            received.append(head)
            await answer(head, reader, writer)
            while data := await reader.read(65536):
                received.append(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1]), received
    finally:
        server.close()


def switching(head: bytes, protocol: str = "echo/1") -> bytes:
    """A correct 101 for `head` (with the WebSocket accept when it offered WebSocket)."""
    lines = ["HTTP/1.1 101 Switching Protocols", f"Upgrade: {protocol}", "Connection: Upgrade"]
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"sec-websocket-key":
            lines.append(f"Sec-WebSocket-Accept: {websocket_accept(value.strip()).decode()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def echo_until_eof(
    head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """Switch to `echo/1`: echo every byte; at EOF say `bye` and close."""
    w.write(switching(head))
    while data := await reader.read(65536):
        w.write(data)
        await w.drain()
    w.write(b"bye")
    await w.drain()


def upgrade_request(protocol: str = "echo/1", path: str = "/ws", extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\n"
        f"Upgrade: {protocol}\r\n{extra}\r\n"
    ).encode()


# --- helpers -----------------------------------------------------------------------------------
def digest(data: object) -> str:
    return hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else repr(data)[:200]


async def start(gateway: Any, port: int, annotations: dict[str, str] | None = None) -> Any:
    return await gateway(cluster([ingress(annotations or {}, path="/ws")], {"svc": [port]}))


async def samples(gw: GatewayUnderTest) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as answer,
    ):
        text = await answer.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def tunnels_closed(
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float], cause: str
) -> float:
    return values.get(("gateway_tunnels_closed_total", (("cause", cause),)), 0.0)


async def read_response_head(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(5):
        return await reader.readuntil(b"\r\n\r\n")


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# --- WebSocket through the gateway -------------------------------------------------------------
@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_websocket_echoes_one_mebibyte_each_way(gateway: Any, tls: bool) -> None:
    async with websocket_pod() as port:
        gw = await start(gateway, port)
        scheme, gateway_port = ("https", gw.tls_port) if tls else ("http", gw.port)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        payload = os.urandom(MiB)
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(
                f"{scheme}://127.0.0.1:{gateway_port}/ws",
                headers={"Host": "app.test"},
                ssl=context if tls else True,
                max_msg_size=0,
            )
            await ws.send_bytes(payload)
            echoed = await ws.receive(timeout=10)
            await ws.send_str("push")
            pushed = await ws.receive(timeout=10)
            await ws.send_str("hello")
            text = await ws.receive(timeout=10)
            await ws.close()
        # Compared as sizes and digests: pytest's diff of two 1 MiB values takes minutes.
        assert (echoed.type, len(echoed.data)) == (aiohttp.WSMsgType.BINARY, MiB)
        assert digest(echoed.data) == digest(payload)
        assert digest(pushed.data) == digest(b"p" * MiB)
        assert text.data == "hello"

        await wait_for(lambda: any(e["status"] == 101 for e in gw.access_log()))
        (entry,) = gw.access_log()
        assert entry["status"] == 101 and entry["path"] == "/ws"
        assert entry["bytes_sent"] > 2 * MiB
        values = await samples(gw)
        route = (("ingress", "web"), ("namespace", "default"), ("service", "svc"))
        assert (
            values[("gateway_tunnels_total", (*route[:2], ("protocol", "websocket"), route[2]))]
            == 1
        )
        assert values[("gateway_tunnels_active", ())] == 0
        assert values[("gateway_tunnel_bytes_total", (("direction", "to_client"),))] > 2 * MiB
        assert values[("gateway_tunnel_bytes_total", (("direction", "to_pod"),))] > MiB
        assert tunnels_closed(values, "client") + tunnels_closed(values, "pod") == 1
        method_status = (
            ("method", "GET"),
            ("namespace", "default"),
            ("service", "svc"),
            ("status", "101"),
        )
        assert values[("gateway_requests_total", (("ingress", "web"), *method_status))] == 1


async def test_pod_closing_the_websocket_closes_the_client(gateway: Any) -> None:
    async with websocket_pod() as port:
        gw = await start(gateway, port)
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(
                f"http://127.0.0.1:{gw.port}/ws", headers={"Host": "app.test"}
            )
            await ws.send_str("close")
            message = await ws.receive(timeout=5)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await ws.close()
        await wait_for(lambda: gw.gateway.proxy.tunnels.open == set())


# --- the tunnel itself ---------------------------------------------------------------------------
async def test_tunnel_carries_early_bytes_and_half_close(gateway: Any) -> None:
    """Bytes sent with the request head wait for the 101; the client's EOF reaches the pod as a
    half-close, and the pod can still answer after it."""
    async with raw_pod(echo_until_eof) as (port, received):
        gw = await start(gateway, port)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(upgrade_request() + b"early-")
        head = await read_response_head(reader)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"\r\nUpgrade: echo/1\r\n" in head and b"\r\nConnection: upgrade\r\n" in head
        writer.write(b"late")
        writer.write_eof()
        async with asyncio.timeout(5):
            rest = await reader.read()
        writer.close()
        assert rest == b"early-latebye"
        forwarded = received[0]
        assert b"\r\nConnection: upgrade\r\nUpgrade: echo/1\r\n" in forwarded
        values = await samples(gw)
        route = (("ingress", "web"), ("namespace", "default"), ("protocol", "other"))
        assert values[("gateway_tunnels_total", (*route, ("service", "svc")))] == 1


async def test_a_client_that_reads_nothing_holds_the_pod_back(gateway: Any) -> None:
    """Flow control: the tunnel stops reading the pod while the client takes nothing, so the
    pod's own send buffer fills (the gateway does not buffer the stream)."""
    pushed = asyncio.get_running_loop().create_future()

    async def push(head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(switching(head))
        w.write(b"x" * (32 * MiB))
        try:
            await w.drain()
        finally:
            pushed.set_result(None)
        await reader.read()

    async with raw_pod(push) as (port, _):
        gw = await start(gateway, port)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.transport.set_write_buffer_limits(0)
        writer.write(upgrade_request())
        head = await read_response_head(reader)
        assert head.startswith(b"HTTP/1.1 101 ")
        await asyncio.sleep(1.0)
        assert not pushed.done()  # the pod is still blocked on 32 MiB
        got = 0
        async with asyncio.timeout(30):
            while got < 32 * MiB:
                got += len(await reader.read(1 << 20))
            await pushed
        writer.close()


async def test_an_idle_tunnel_closes_after_the_read_timeout(gateway: Any) -> None:
    async with raw_pod(echo_until_eof) as (port, _):
        gw = await start(gateway, port, {"nginx.ingress.kubernetes.io/proxy-read-timeout": "1"})
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(upgrade_request())
        await read_response_head(reader)
        loop = asyncio.get_running_loop()
        began = loop.time()
        for _ in range(4):  # traffic keeps it open past the timeout
            await asyncio.sleep(0.4)
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        elapsed = loop.time() - began
        assert elapsed >= 2.0
        writer.close()
        values = await samples(gw)
        assert tunnels_closed(values, "timeout") == 1


async def test_shutdown_closes_tunnels_at_the_drain_deadline(gateway: Any) -> None:
    async with raw_pod(echo_until_eof) as (port, _):
        gw = await gateway(
            cluster([ingress({}, path="/ws")], {"svc": [port]}), shutdown_timeout=0.5
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(upgrade_request())
        await read_response_head(reader)
        tunnels = gw.gateway.proxy.tunnels
        stopping = asyncio.create_task(gw.stop())
        writer.write(b"still")  # the tunnel keeps working while the gateway drains
        assert await reader.readexactly(5) == b"still"
        async with asyncio.timeout(10):
            assert await reader.read() in (b"", b"bye")
            await stopping
        writer.close()
        assert tunnels.closed == {"shutdown": 1}


# --- what must not become a tunnel --------------------------------------------------------------
async def refuse_426(head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\nno")


async def refuse_200(head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


async def wrong_accept(head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: c2VjcmV0c2VjcmV0c2VjcmV0c2U=\r\n\r\nraw-from-pod"
    )


async def unoffered_protocol(
    head: bytes, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    w.write(switching(head, "other/2") + b"raw-from-pod")


@pytest.mark.parametrize(
    ("answer", "status"),
    [(refuse_426, 426), (refuse_200, 200), (wrong_accept, 502), (unoffered_protocol, 502)],
    ids=["426", "200", "wrong-accept", "unoffered-protocol"],
)
async def test_no_tunnel_unless_the_pod_accepts_the_offer(
    gateway: Any, answer: RawPod, status: int
) -> None:
    """websocket-smuggle: after a refused (or forged) upgrade the client's next bytes are HTTP
    again: the smuggled `GET /internal` is routed by the gateway (no route: 404) and never
    reaches the pod as raw bytes; the pod's bytes after a forged 101 never reach the client."""
    async with raw_pod(answer) as (port, received):
        gw = await start(gateway, port)
        smuggled = get("app.test", "/internal")
        ws = upgrade_request(
            "websocket", extra=f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        )
        first, second = await exchange(gw.port, ws + smuggled, responses=2)
        assert first.status == status
        assert second.status == 404
        assert b"raw-from-pod" not in first.raw
        await asyncio.sleep(0.1)
        assert not any(b"/internal" in chunk for chunk in received)
        assert gw.gateway.proxy.tunnels.opened == {}


async def test_a_101_to_a_plain_request_is_a_bad_gateway(gateway: Any) -> None:
    async with raw_pod(echo_until_eof) as (port, _):
        gw = await start(gateway, port)
        (answer,) = await exchange(gw.port, get("app.test", "/ws"))
        assert answer.status == 502


@pytest.mark.parametrize(
    "key",
    ["", "Sec-WebSocket-Key: not base64!\r\n", "Sec-WebSocket-Key: c2hvcnQ=\r\n"],
    ids=["missing", "not-base64", "short"],
)
async def test_a_websocket_offer_without_a_valid_key_is_refused(
    gateway: Any, upstreams: Any, key: str
) -> None:
    up = await upstreams()
    gw = await start(gateway, up.port)
    (answer,) = await exchange(
        gw.port, upgrade_request("websocket", extra=key) + get("app.test", "/ws")
    )
    assert answer.status == 400 and answer.closed
    assert up.requests == []


async def test_h2c_is_never_offered_to_the_pod(gateway: Any, upstreams: Any) -> None:
    up: Upstream = await upstreams()
    gw = await start(gateway, up.port)
    h2c = (
        b"GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    )
    first, second = await exchange(gw.port, h2c + get("app.test", "/ws/next"), responses=2)
    assert (first.status, second.status) == (200, 200)
    forwarded = up.requests[0]
    assert forwarded.header("upgrade") is None
    assert forwarded.header("http2-settings") is None
    assert "upgrade" not in (forwarded.header("connection") or "").lower()
    assert [r.target for r in up.requests] == ["/ws", "/ws/next"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_upgrade_request_with_a_body_is_served_as_plain_http(
    gateway: Any, upstreams: Any, chunked: bool
) -> None:
    """llhttp ends such a request at its head; the body must still reach the pod, and the
    next request on the connection must still be parsed."""
    up: Upstream = await upstreams()
    gw = await start(gateway, up.port)
    framing = (
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        if chunked
        else "Content-Length: 5\r\n\r\nhello"
    )
    post = (
        "POST /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        f"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n{framing}"
    ).encode()
    first, second = await exchange(gw.port, post + get("app.test", "/ws/after"), responses=2)
    assert (first.status, second.status) == (200, 200)
    assert up.requests[0].body == b"hello"
    assert up.requests[0].header("upgrade") is None
    assert up.requests[1].target == "/ws/after"


async def test_curl_http2_upgrade_post_gets_its_answer(gateway: Any, upstreams: Any) -> None:
    """`curl --http2` on an http:// URL sends `Upgrade: h2c` with its POST body."""

    async def echo_body(request: Any, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(request.body), request.body)
        )

    up: Upstream = await upstreams(echo_body)
    gw = await start(gateway, up.port)
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--http2", "--max-time", "10", "-H", "Host: app.test",
        "--data-binary", "payload", f"http://127.0.0.1:{gw.port}/ws",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert out == b"payload"
    assert up.requests[0].header("upgrade") is None
