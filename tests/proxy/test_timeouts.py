"""Per-Ingress timeouts through a running gateway against slow upstreams."""

from __future__ import annotations

import asyncio
import socket
import time

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, Response, cluster, exchange, get, read_responses

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"


async def slow_head(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answers after 1.5 s."""
    await asyncio.sleep(1.5)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")


async def trickle(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answers at once, then sends its body in five pieces 0.4 s apart."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    for _ in range(5):
        await writer.drain()
        await asyncio.sleep(0.4)
        writer.write(b"x")


def slow_cluster(up_port: int, trickle_port: int) -> dict:
    return cluster(
        [
            ingress(
                "short",
                rule("short.test", path("/", service="slow")),
                annotations={N + "proxy-read-timeout": "1"},
            ),
            ingress(
                "long",
                rule("long.test", path("/", service="slow")),
                annotations={N + "proxy-read-timeout": "3"},
            ),
            ingress(
                "total",
                rule("total.test", path("/", service="slow")),
                annotations={H + "timeout": "1"},
            ),
            ingress(
                "total-body",
                rule("body.test", path("/", service="trickle")),
                annotations={H + "timeout": "1"},
            ),
            ingress(
                "per-io",
                rule("io.test", path("/", service="trickle")),
                annotations={N + "proxy-read-timeout": "1"},
            ),
        ],
        {"slow": [up_port], "trickle": [trickle_port]},
        {"gateway-config": {"proxy-read-timeout": "30"}},
    )


async def test_read_timeout_overrides_the_global_one_per_ingress(upstreams, gateway) -> None:
    slow, slow_body = await upstreams(slow_head), await upstreams(trickle)
    gw = await gateway(slow_cluster(slow.port, slow_body.port))
    started = time.monotonic()
    [short] = await exchange(gw.port, get("short.test", "/"))
    assert short.status == 504 and time.monotonic() - started < 1.45
    [long] = await exchange(gw.port, get("long.test", "/"))
    assert (long.status, long.body) == (200, b"slow")
    # Per I/O: a body that keeps moving never trips a 1 s read timeout.
    [io] = await exchange(gw.port, get("io.test", "/"))
    assert (io.status, io.body) == (200, b"xxxxx")


async def stall(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answers at once, except `/stall`, which it leaves unanswered for 10 s."""
    if request.target == "/stall":
        await asyncio.sleep(10)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


async def test_a_shorter_read_timeout_applies_on_a_reused_connection(upstreams, gateway) -> None:
    """A pooled connection keeps its timer between requests (`UpstreamConnection.watch`): a
    request with a shorter read timeout than the previous one's must bring it forward."""
    up = await upstreams(stall)
    gw = await gateway(
        cluster(
            [
                ingress("plain", rule("plain.test", path("/", service="pods"))),
                ingress(
                    "short",
                    rule("short.test", path("/", service="pods")),
                    annotations={N + "proxy-read-timeout": "1"},
                ),
            ],
            {"pods": [up.port]},
            {"gateway-config": {"proxy-read-timeout": "30"}},
        )
    )
    [plain] = await exchange(gw.port, get("plain.test", "/"))
    assert plain.status == 200
    started = time.monotonic()
    async with asyncio.timeout(5):
        [short] = await exchange(gw.port, get("short.test", "/stall"))
    assert short.status == 504 and time.monotonic() - started < 1.45
    assert up.connections == 1  # the pooled connection, whose timer was set for 30 s


async def test_higress_timeout_bounds_the_whole_request(upstreams, gateway) -> None:
    slow, slow_body = await upstreams(slow_head), await upstreams(trickle)
    gw = await gateway(slow_cluster(slow.port, slow_body.port))
    started = time.monotonic()
    [resp] = await exchange(gw.port, get("total.test", "/"))
    assert resp.status == 504 and time.monotonic() - started < 1.45
    [resp] = await exchange(gw.port, get("body.test", "/"))
    assert resp.status == 200 and resp.closed and len(resp.body) < 5  # cut mid-body
    statuses = [(e["ingress"], e["upstream_status"]) for e in gw.access_log()]
    assert statuses == [("total", "504"), ("total-body", "200, 504")]


# --- the request's way to the pod: send timeout, and no read timeout before it is all sent -----
def upload_cluster(port: int, **annotations: str) -> dict:
    return cluster(
        [
            ingress(
                "upload",
                rule("upload.test", path("/", service="pods")),
                annotations={N + key: value for key, value in annotations.items()},
            )
        ],
        {"pods": [port]},
        {"gateway-config": {"proxy-read-timeout": "30", "proxy-body-size": "0"}},
    )


async def slow_upload(port: int, pieces: int, size: int, pause: float) -> Response:
    """A client that sends a body of `pieces` pieces of `size` bytes, `pause` seconds apart,
    then reads the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"POST /up HTTP/1.1\r\nHost: upload.test\r\nContent-Length: {pieces * size}\r\n\r\n"
        writer.write(head.encode())
        for _ in range(pieces):
            await asyncio.sleep(pause)
            writer.write(b"u" * size)
            await writer.drain()
        [answer] = await read_responses(reader, 1)
        return answer
    finally:
        writer.close()


async def test_a_slow_client_upload_outlasts_the_read_timeout(upstreams, gateway) -> None:
    """The pod cannot answer before it has the whole body, and the client takes 2 s to send
    it: nginx starts `proxy_read_timeout` once the request is sent, so a 1 s read timeout does
    not cut the upload (the client's own `client-body-timeout` bounds the wait)."""
    up = await upstreams()
    gw = await gateway(upload_cluster(up.port, **{"proxy-read-timeout": "1"}))
    answer = await slow_upload(gw.port, pieces=5, size=1000, pause=0.4)
    assert answer.status == 200
    assert len(up.requests[0].body) == 5000


class Pod:
    """A pod on loopback with a small receive buffer that reads the request body `size` bytes
    every `pause` seconds (never, with `pause` None), then answers 200 with the byte count."""

    def __init__(self, size: int, pause: float | None) -> None:
        self.size = size
        self.pause = pause
        self.received = 0
        self.server: asyncio.Server | None = None
        self.serving: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.bind(("127.0.0.1", 0))
        self.server = await asyncio.start_server(self._serve, sock=sock)
        return int(sock.getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.serving.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while self.received < length:
                await asyncio.sleep(3600 if self.pause is None else self.pause)
                self.received += len(await reader.read(self.size))
            body = str(self.received).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.serving:
            task.cancel()


async def test_a_pod_that_stops_reading_the_body_times_out_on_the_send_timeout(gateway) -> None:
    """proxy-send-timeout bounds how long the pod may take no more of the request (1 s here),
    whatever the read timeout (30 s): 504 at once rather than at the read timeout."""
    pod = Pod(size=0, pause=None)
    port = await pod.start()
    try:
        gw = await gateway(upload_cluster(port, **{"proxy-send-timeout": "1"}))
        started = time.monotonic()
        body = b"s" * (16 * 1024 * 1024)
        [answer] = await exchange(gw.port, get("upload.test", "/", method="POST", body=body))
        assert answer.status == 504
        assert time.monotonic() - started < 5
    finally:
        pod.stop()


async def test_a_pod_reading_slowly_but_steadily_is_not_timed_out(gateway) -> None:
    """A 1 s send timeout, and a pod that takes 2 s or more to read a 12 MiB body 64 KiB at a
    time (more than the kernel's buffers hold, about 4 MiB here, so the gateway's writes block
    again and again): the send timeout counts while the pod takes nothing, from the moment
    writes block until they flow again, so steady progress never trips it."""
    pod = Pod(size=64 * 1024, pause=0.01)
    port = await pod.start()
    try:
        gw = await gateway(upload_cluster(port, **{"proxy-send-timeout": "1"}))
        body = b"s" * (12 * 1024 * 1024)
        started = time.monotonic()
        [answer] = await exchange(
            gw.port, get("upload.test", "/", method="POST", body=body), timeout=30
        )
        assert (answer.status, answer.body) == (200, str(len(body)).encode())
        assert time.monotonic() - started > 1.9  # 192 reads 10 ms apart: past the send timeout
    finally:
        pod.stop()
