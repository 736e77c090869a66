"""A small pooled HTTP/1.1 client for the gateway's own requests to auth services.

Only what an authentication check needs: a request without a body, an answer whose status
and headers matter and whose body (bounded by `MAX_BODY`) is read and dropped. Connections are
kept per (scheme, host, port) exactly as `auth-keepalive`, `-requests` and `-timeout` say, as
nginx's upstream `keepalive` block does; with `auth-keepalive: 0` each check has its own
connection. A kept connection that fails before any answer byte is retried once on a fresh
one (the service closed it while idle). `https://` is encrypted without verifying the
certificate, nginx's default for `proxy_pass`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import httptools

from gateway.proxy.mirror import insecure_context

MAX_BODY: Final = 1024 * 1024
"""Answer body bytes read (and dropped) before the connection is closed instead of reused."""


class SubrequestError(Exception):
    """No usable answer: refused, reset, timed out or malformed."""


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """How connections to one auth service are kept (`auth-keepalive*`)."""

    connections: int = 0
    requests: int = 1000
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The status and headers of an answer (names as sent)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]

    def values(self, name: bytes) -> list[bytes]:
        """Every value of the header `name` (lower case)."""
        return [value for key, value in self.headers if key.lower() == name]


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: int = 0
    expires: float = 0.0
    """When, idle, it is closed (`auth-keepalive-timeout` after it was put back)."""


@dataclass(eq=False)
class _Parse:
    """httptools callbacks collecting one answer."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    headers_done: bool = False
    complete: bool = False
    body: int = 0
    keep_alive: bool = False
    """Read when the head is complete: llhttp forgets it once the message ends."""
    parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body += len(body)

    def on_message_complete(self) -> None:
        self.complete = True


Origin = tuple[str, str, int]
"""(scheme, host, port) of a service."""


class SubrequestPool:
    """Idle connections per service, and the requests that use them."""

    def __init__(self) -> None:
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def fetch(
        self,
        url: str,
        method: str,
        headers: list[tuple[str, str]],
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive: KeepAlive,
    ) -> Answer:
        """Send a body-less request to `url` and read its answer."""
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        origin = (scheme, host, parts.port or (443 if scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = _request(method, target, parts.netloc, headers, keepalive.connections > 0)
        reused = self._take(origin)
        if reused is not None:
            try:
                return await self._exchange(
                    reused, origin, request, method, read_timeout, keepalive
                )
            except _StaleConnection:
                pass  # closed by the service while idle: once more, on a fresh connection
        tls = None
        if scheme == "https":
            tls = self._tls = self._tls or insecure_context()
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(host, origin[2], ssl=tls)
        except (OSError, TimeoutError) as err:
            raise SubrequestError(f"cannot connect to {host}:{origin[2]}: {err!r}") from None
        fresh = _Connection(reader, writer)
        try:
            return await self._exchange(fresh, origin, request, method, read_timeout, keepalive)
        except _StaleConnection as err:
            raise SubrequestError(str(err)) from None

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if now < conn.expires and not conn.writer.is_closing():
                return conn
            conn.writer.close()
        return None

    def expire(self, now: float) -> None:
        """Close the idle connections whose keep-alive time is over (the server's sweep)."""
        for origin, idle in list(self._idle.items()):
            for conn in [c for c in idle if c.expires <= now]:
                idle.remove(conn)
                conn.writer.close()
            if not idle:
                del self._idle[origin]

    async def _exchange(
        self,
        conn: _Connection,
        origin: Origin,
        request: bytes,
        method: str,
        read_timeout: float,
        keepalive: KeepAlive,
    ) -> Answer:
        conn.requests += 1
        parse = _Parse()
        parser = parse.parser = httptools.HttpResponseParser(parse)
        received = False
        try:
            conn.writer.write(request)
            while not parse.complete and not (method == "HEAD" and parse.headers_done):
                async with asyncio.timeout(read_timeout):
                    data = await conn.reader.read(65536)
                if not data:
                    if parse.headers_done and not parse.complete:
                        parser.feed_data(b"")  # close-delimited body ends here
                        break
                    raise ConnectionResetError("closed before answering")
                received = True
                parser.feed_data(data)
                if parse.body > MAX_BODY:
                    break
        except (OSError, httptools.HttpParserError) as err:
            conn.writer.close()
            if not received and conn.requests > 1:
                raise _StaleConnection(repr(err)) from None
            raise SubrequestError(f"no usable answer: {err!r}") from None
        except TimeoutError:
            conn.writer.close()
            raise SubrequestError(f"no answer within {read_timeout:g}s") from None
        answer = Answer(parser.get_status_code(), tuple(parse.headers))
        reusable = (
            parse.complete
            and method != "HEAD"
            and parse.keep_alive
            and conn.requests < keepalive.requests
            and len(self._idle.get(origin, ())) < keepalive.connections
        )
        if reusable:
            conn.expires = asyncio.get_running_loop().time() + keepalive.timeout
            self._idle.setdefault(origin, deque()).append(conn)
        else:
            conn.writer.close()
        return answer

    def close_all(self) -> None:
        """Close every idle connection (at shutdown)."""
        for idle in self._idle.values():
            for conn in idle:
                with contextlib.suppress(Exception):
                    conn.writer.close()
        self._idle.clear()


class _StaleConnection(Exception):
    """A reused connection failed before any answer byte."""


def _request(
    method: str, target: str, host: str, headers: list[tuple[str, str]], keep: bool
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if not keep:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
