"""The access log: one JSON object per request, on stdout by default (DESIGN.md keys).

Lines are collected and written in batches (at 64 KiB, or 0.2 s after the first line of a
batch), so a busy gateway makes a few large writes instead of one per request.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange

FLUSH_BYTES = 64 * 1024
FLUSH_DELAY = 0.2


class AccessLog:
    """Buffers JSON lines and writes them to a binary stream."""

    def __init__(self, stream: BinaryIO, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def write(self, exchange: Exchange) -> None:
        """Log one finished request, unless the live settings turn the log off."""
        if exchange.config.disable_access_log:
            return
        head = exchange.head
        route = exchange.route
        now = self._loop.time()
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            + f".{int(time.time() % 1 * 1000):03d}Z",
            "remote_addr": exchange.client_ip,
            "method": head.method,
            "host": head.host,
            "path": head.raw_path or head.target.decode("latin-1"),
            "status": exchange.status,
            "bytes_sent": exchange.bytes_sent,
            "request_time": round(now - exchange.started, 6),
            "upstream_addr": exchange.upstream_addr,
            "upstream_status": exchange.upstream_status,
            "upstream_response_time": round(exchange.upstream_time, 6),
            "request_id": head.request_id,
            "namespace": route.namespace if route else "",
            "ingress": route.ingress if route else "",
            "service": route.service if route else "",
        }
        self.write_line(json.dumps(record, separators=(",", ":")).encode() + b"\n")

    def write_line(self, line: bytes) -> None:
        """Queue one complete line."""
        self._lines.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Write what is queued."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            data = b"".join(self._lines)
            self._lines.clear()
            self._size = 0
            try:
                self._stream.write(data)
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stdout closed: losing log lines must never stop the proxy
