"""The floor of the stack issue #3 mandates: the least a uvloop + httptools proxy can cost.

    python -m bench.floor.proxy LISTEN_PORT UPSTREAM_PORT

Not the gateway, and not usable as a proxy: it forwards `GET` requests without bodies to one
upstream over one keep-alive connection per client connection, and passes back responses that
carry a `Content-Length`. It has none of the gateway's work: no route table, no policies, no
limits, no retries, no pool, no metrics, no access log, no request ID, no timers. Everything it
does is a callback on the event loop, with no task or future per request.

`bench.load.run` measures it beside nginx and the gateway. Its CPU time per request is what any
proxy on this stack pays before doing anything a gateway is for, so it bounds from below how
close to nginx the gateway can come (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import uvloop

_DROPPED = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length"})


class UpstreamSide(asyncio.Protocol):
    """The connection to the upstream: writes request heads, parses responses."""

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.lines: list[bytes] = []
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in _DROPPED:
            self.lines.append(name + b": " + value + b"\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        head = b"HTTP/1.1 %d OK\r\nContent-Length: %d\r\n" % (
            self.parser.get_status_code(),
            len(body),
        )
        self.client.answer(head + b"".join(self.lines) + b"\r\n" + body)
        self.lines = []
        self.body = []

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class ClientSide(asyncio.Protocol):
    """One client connection: parses requests and forwards each one's head."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.lines: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.upstream: UpstreamSide | None = None
        self.peer = b""
        self.waiting: list[bytes] = []
        """Request heads that arrived before the upstream connection was made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.peer = transport.get_extra_info("peername")[0].encode()
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.upstream = await loop.create_connection(
            lambda: UpstreamSide(self), "127.0.0.1", self.upstream_port
        )
        assert self.upstream.transport is not None
        self.upstream.transport.write(b"".join(self.waiting))

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in _DROPPED:
            self.lines.append(name + b": " + value + b"\r\n")

    def on_message_complete(self) -> None:
        head = b"%b %b HTTP/1.1\r\n%bX-Forwarded-For: %b\r\n\r\n" % (
            self.parser.get_method(),
            self.url,
            b"".join(self.lines),
            self.peer,
        )
        self.lines = []
        if self.upstream is None or self.upstream.transport is None:
            self.waiting.append(head)
        else:
            self.upstream.transport.write(head)

    def answer(self, response: bytes) -> None:
        if self.transport is not None:
            self.transport.write(response)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()


async def serve(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ClientSide(upstream_port), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    uvloop.run(serve(port, upstream_port))


if __name__ == "__main__":
    main()
