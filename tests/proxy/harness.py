"""Test harness for the data plane: recording upstreams and a gateway on loopback.

`Upstream` is a raw HTTP/1.1 server that records exactly what it receives, request by request,
and answers through a handler that may misbehave on purpose (refuse, reset, stall, send a
malformed head, a close-delimited body, a huge body). `GatewayUnderTest` runs the real gateway
in the test's event loop on real loopback sockets, fed by a manifest folder the test writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools

from gateway.app import Gateway
from gateway.control.watcher import ManifestWatcher
from gateway.settings import RunSettings

Handler = Callable[["Recorded", asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Recorded:
    """One request as the upstream received it."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes
    connection: int

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def names(self) -> list[str]:
        return [k.lower() for k, _ in self.headers]


def response(
    status: int = 200, body: bytes = b"ok", headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    head = [
        f"HTTP/1.1 {status} X",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def ok(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answer 200 with the request target as the body."""
    writer.write(response(200, request.target.encode(), [("X-Upstream", "yes")]))


class _Parser:
    def __init__(self, keep_body: bool = True) -> None:
        self.keep_body = keep_body
        self.parser = httptools.HttpRequestParser(self)
        self.done: list[tuple[str, str, str, list[tuple[str, str]], bytes]] = []
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body = b""

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body = b"", [], b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        if self.keep_body:
            self._body += body

    def on_message_complete(self) -> None:
        self.done.append(
            (
                self.parser.get_method().decode(),
                self._url.decode("latin-1"),
                self.parser.get_http_version(),
                self._headers,
                self._body,
            )
        )


class Upstream:
    """A recording HTTP server on 127.0.0.1."""

    def __init__(
        self, handler: Handler = ok, *, keep_body: bool = True, tls: ssl.SSLContext | None = None
    ) -> None:
        self.handler = handler
        self.keep_body = keep_body
        self.tls = tls
        """Serve HTTPS with this context (a pod behind `backend-protocol: HTTPS`)."""
        self.requests: list[Recorded] = []
        self.connections = 0
        self.raw = b""
        self.body_bytes = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self._writers.add(writer)
        parser = _Parser(self.keep_body)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.keep_body:
                    self.raw += data
                self.body_bytes += len(data)
                parser.parser.feed_data(data)
                while parser.done:
                    method, target, version, headers, body = parser.done.pop(0)
                    request = Recorded(
                        method,
                        target,
                        version,
                        headers,
                        body if self.keep_body else b"",
                        data,
                        connection,
                    )
                    self.requests.append(request)
                    await self.handler(request, writer)
                    await writer.drain()
                    if writer.transport.is_closing():
                        return
        except (ConnectionError, httptools.HttpParserError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


def manifests(
    routes: Iterable[tuple[str, str, str, Iterable[int]]],
    *,
    annotations: dict[str, str] | None = None,
    configmap: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Manifest documents: one Ingress and Service per (host, path, pathType, ports) route.

    Loopback endpoints differ only by port, so each port gets an EndpointSlice of its own
    (same port name), which is how a Service with per-pod ports resolves too.
    """
    docs: list[dict[str, Any]] = []
    for i, (host, path, path_type, ports) in enumerate(routes):
        name = f"svc{i}"
        backend = {"service": {"name": name, "port": {"number": 80}}}
        rule = {
            "host": host,
            "http": {"paths": [{"path": path, "pathType": path_type, "backend": backend}]},
        }
        docs.append(
            {
                "kind": "Ingress",
                "metadata": {"name": f"ing{i}", "annotations": annotations or {}},
                "spec": {"ingressClassName": "gateway", "rules": [rule]},
            }
        )
        docs.extend(_service(name, ports))
    if configmap is not None:
        docs.append(
            {
                "kind": "ConfigMap",
                "metadata": {"name": "gateway-config", "namespace": "default"},
                "data": configmap,
            }
        )
    return {"kind": "List", "items": docs}


def _service(name: str, ports: Iterable[int]) -> list[dict[str, Any]]:
    """A Service (port 80) with one loopback EndpointSlice per upstream port."""
    docs: list[dict[str, Any]] = [
        {
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        }
    ]
    docs.extend(
        {
            "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-{j}", "labels": {"kubernetes.io/service-name": name}},
            "ports": [{"name": "http", "port": port}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        }
        for j, port in enumerate(ports)
    )
    return docs


def ingress(
    annotations: dict[str, str],
    *,
    name: str = "web",
    path: str = "/",
    host: str = "app.test",
    service: str = "svc",
) -> dict[str, Any]:
    """An Ingress with one Prefix rule to `service` port 80, for `cluster`."""
    backend = {"service": {"name": service, "port": {"number": 80}}}
    rule = {
        "host": host,
        "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]},
    }
    return {
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"ingressClassName": "gateway", "rules": [rule]},
    }


def cluster(
    ingresses: Iterable[dict[str, Any]],
    services: dict[str, Iterable[int]],
    configmaps: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Manifest documents: the given Ingresses, per Service name a Service (port 80) with one
    loopback EndpointSlice per upstream port (no ports: a Service without endpoints), and
    ConfigMaps by name (`gateway-config` is the gateway's own), all in `default`."""
    docs = list(ingresses)
    for name, ports in services.items():
        docs.extend(_service(name, ports))
    docs.extend(
        {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data}
        for name, data in (configmaps or {}).items()
    )
    return {"kind": "List", "items": docs}


def _flatten(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document.get("kind") == "List":
        return [d for item in document["items"] for d in _flatten(item)]
    return [document]


@dataclass
class GatewayUnderTest:
    """The real gateway in this event loop, on 127.0.0.1 with ephemeral ports."""

    folder: Path
    shutdown_timeout: float = 5.0
    default_ssl_certificate: tuple[str, str] | None = None
    gateway: Gateway | None = None
    log: io.BytesIO = field(default_factory=io.BytesIO)

    async def start(self, document: dict[str, Any]) -> GatewayUnderTest:
        self.write(document)
        settings = RunSettings(
            manifests=str(self.folder),
            listen=("127.0.0.1", 0),
            listen_tls=("127.0.0.1", 0),
            admin=("127.0.0.1", 0),
            configmap=("default", "gateway-config"),
            default_ssl_certificate=self.default_ssl_certificate,
            shutdown_delay=0.0,
            shutdown_timeout=self.shutdown_timeout,
        )
        self.gateway = Gateway(settings, access_stream=self.log)
        assert isinstance(self.gateway.source, ManifestWatcher)
        self.gateway.source.interval = 0.05
        self.gateway.reconciler.debounce = 0.01
        await self.gateway.start()
        await self.wait_generation(1)
        return self

    @property
    def port(self) -> int:
        assert self.gateway is not None
        return self.gateway.ports["http"]

    @property
    def tls_port(self) -> int:
        assert self.gateway is not None
        return self.gateway.ports["https"]

    @property
    def admin_port(self) -> int:
        assert self.gateway is not None
        return self.gateway.ports["admin"]

    def write(self, document: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "cluster.json").write_text(
            json.dumps({"kind": "List", "items": _flatten(document)})
        )

    async def update(self, document: dict[str, Any]) -> None:
        """Write new manifests and wait until a new snapshot is live."""
        assert self.gateway is not None
        generation = self.gateway.holder.generation
        self.write(document)
        await self.wait_generation(generation + 1)

    async def wait_generation(self, generation: int, timeout: float = 5.0) -> None:
        assert self.gateway is not None
        async with asyncio.timeout(timeout):
            while self.gateway.holder.generation < generation:
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.gateway is not None:
            with contextlib.suppress(Exception):
                await self.gateway.stop()

    def access_log(self) -> list[dict[str, Any]]:
        assert self.gateway is not None
        assert self.gateway.plane is not None
        self.gateway.plane.access_log.flush()
        return [json.loads(line) for line in self.log.getvalue().splitlines()]


@dataclass
class Response:
    """A response as a raw client saw it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes
    closed: bool
    complete: bool = True
    """False when the connection closed before the framing said the response ended."""

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None


class _ResponseParser:
    def __init__(self, head_request: bool = False) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_request = head_request
        self.responses: list[tuple[int, list[tuple[str, str]], bytes]] = []
        self._headers: list[tuple[str, str]] = []
        self._body = b""
        self.headers_done = False

    def on_message_begin(self) -> None:
        self._headers, self._body, self.headers_done = [], b"", False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head_request:
            self.responses.append((self.parser.get_status_code(), self._headers, b""))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        if not self.head_request:
            self.responses.append((self.parser.get_status_code(), self._headers, self._body))
        self.headers_done = False


async def exchange(
    port: int,
    raw: bytes,
    *,
    responses: int = 1,
    timeout: float = 10.0,
    head_request: bool = False,
    tls: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> list[Response]:
    """Send raw bytes on a new connection (TLS with `tls`, SNI `server_name`) and read
    `responses` responses (or until close)."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls, server_hostname=server_name if tls else None
    )
    writer.write(raw)
    try:
        return await read_responses(reader, responses, timeout=timeout, head_request=head_request)
    finally:
        writer.close()


async def read_responses(
    reader: asyncio.StreamReader,
    responses: int = 1,
    *,
    timeout: float = 10.0,
    head_request: bool = False,
) -> list[Response]:
    """Read `responses` responses (or until close) from a connection the caller writes to."""
    parser = _ResponseParser(head_request)
    received = b""
    closed = False
    async with asyncio.timeout(timeout):
        while len(parser.responses) < responses:
            data = await reader.read(65536)
            if not data:
                closed = True
                break
            received += data
            parser.parser.feed_data(data)
        if not closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    closed = await reader.read(1) == b""
    out = [Response(s, h, b, received, closed) for s, h, b in parser.responses]
    if closed and parser.headers_done and len(out) < responses:
        # Ended by EOF: complete for a close-delimited body, cut short for any other.
        status = parser.parser.get_status_code()
        out.append(Response(status, parser._headers, parser._body, received, True, False))
    return out or [Response(0, [], b"", received, closed, False)]


def get(
    host: str,
    path: str = "/",
    *,
    headers: Iterable[tuple[str, str]] = (),
    method: str = "GET",
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """A well-formed request."""
    lines = [f"{method} {path} HTTP/{version}", f"Host: {host}", *(f"{k}: {v}" for k, v in headers)]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
