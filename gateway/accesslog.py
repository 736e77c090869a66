"""The access log: one JSON object per request, on stdout by default (DESIGN.md keys).

Lines are collected and written in batches (at 64 KiB, or 0.2 s after the first line of a
batch), so a busy gateway makes a few large writes instead of one per request. Worker processes
share the supervisor's stdout, usually a pipe to the container runtime, where only writes of up
to `PIPE_BUF` bytes cannot interleave with another process's: a shared log is therefore written
in pieces of at most that size, each ending at a line's end.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import time
from typing import TYPE_CHECKING, BinaryIO, Final

from gateway.proxy.caches import PerTarget

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange

FLUSH_BYTES: Final = 64 * 1024
FLUSH_DELAY: Final = 0.2
ATOMIC_WRITE: Final = select.PIPE_BUF
"""The largest write to a pipe that no other process's write can split (4096 on Linux)."""


def plain(text: str) -> bool:
    """Whether `text` goes into a JSON string as it is: printable ASCII without `"` or `\\`
    (the common case, checked without a regex)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def escaped(value: str) -> str:
    """The inside of the JSON string for `value`, without its quotes."""
    return value if plain(value) else json.dumps(value)[1:-1]


def json_text(value: str) -> str:
    """A JSON string, quotes included."""
    return f'"{escaped(value)}"'


def seconds_text(value: float) -> str:
    """Seconds with six decimals, as `f"{value:.6f}"` but built from integers: mypyc compiles
    a format spec into a `str.format` call, which cost about 4% of a request (two per line).
    Whole milliseconds under a second, what uvloop's millisecond clock gives for most requests,
    come from a table."""
    micros = int(value * 1_000_000 + 0.5)
    if micros <= 0:
        return "0.000000"
    if micros < 1_000_000 and micros % 1000 == 0:
        return _MILLISECOND_TEXTS[micros // 1000]
    return f"{micros // 1_000_000}.{_padded(micros % 1_000_000, 1_000_000)}"


def _padded(number: int, bound: int) -> str:
    """`number` (below `bound`, a power of ten) with the leading zeros that make it as many
    digits as `bound` has zeros: `_padded(7, 1000)` is "007", as f"{7:03d}" without a spec."""
    return str(number + bound)[1:]


_MILLISECOND_TEXTS: Final = [f"0.{_padded(milli, 1000)}000" for milli in range(1000)]
"""`seconds_text` of 0 to 999 ms (about 60 KB)."""


class AccessLog:
    """Buffers JSON lines and writes them to a binary stream."""

    def __init__(
        self, stream: BinaryIO, loop: asyncio.AbstractEventLoop, *, shared: bool = False
    ) -> None:
        self._stream = stream
        self._shared = shared
        """Other processes write to the same stream: keep every line whole."""
        self._loop = loop
        self._lines: list[str] = []
        """Lines as text, encoded once per batch rather than one by one."""
        self._size = 0
        """Characters queued: bytes, but for the rare line that is not ASCII."""
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._second_text = ""
        self._millisecond = -1
        self._stamp = ""
        self._end = f',"pid":{os.getpid()}}}\n'
        """Ends every line: which process served the request (workers share the log)."""
        self._by_target: PerTarget[str] = PerTarget()

    def write(self, exchange: Exchange) -> None:
        """Log one finished request, unless the live settings turn the log off."""
        if exchange.config.disable_access_log:
            return
        head = exchange.head
        # Only the path, a forwarded client address and a client's request ID can hold
        # characters JSON must escape; the method is a token, the host passed the Host check,
        # names come from the route table, and the rest is ours. The address of the peer itself
        # and an ID the gateway made need no check.
        path = escaped(head.raw_path or head.target.decode("latin-1"))
        client_ip = exchange.client_ip
        if exchange.client[1]:
            client_ip = escaped(client_ip)
        request_id = head.request_id
        if head.request_id_received:
            request_id = escaped(request_id)
        line = (
            f'{{"time":"{self._timestamp()}","remote_addr":"{client_ip}",'
            f'"method":"{head.method}","host":"{head.host}","path":"{path}",'
            f'"status":{exchange.status},"bytes_sent":{exchange.bytes_sent},'
            f'"request_time":{seconds_text(exchange.duration)},'
            f'"upstream_addr":"{exchange.upstream_addr}",'
            f'"upstream_status":"{exchange.upstream_status}",'
            f'"upstream_response_time":{seconds_text(exchange.upstream_time)},'
            f'"request_id":"{request_id}",{self._labels(exchange)}'
        )
        self.write_line(line)

    def _labels(self, exchange: Exchange) -> str:
        """The end of a line for what served the request: its namespace, Ingress and Service,
        made once per target rather than read and joined for every request."""
        target = exchange.target
        text = self._by_target.get(exchange.snapshot, target)
        if text is None:
            namespace, ingress, service = (
                (target.namespace, target.ingress, target.service) if target else ("", "", "")
            )
            text = self._by_target.add(
                target,
                f'"namespace":"{namespace}","ingress":"{ingress}","service":"{service}"{self._end}',
            )
        return text

    def write_early(self, status: int, client: str) -> None:
        """Log a request refused before it could be parsed (no method, host or path)."""
        self.write_line(
            f'{{"time":"{self._timestamp()}","remote_addr":{json_text(client)},"method":"",'
            f'"host":"","path":"","status":{status},"bytes_sent":0,"request_time":0.0,'
            f'"upstream_addr":"","upstream_status":"","upstream_response_time":0.0,'
            f'"request_id":"","namespace":"","ingress":"","service":""{self._end}'
        )

    def _timestamp(self) -> str:
        """ISO 8601 UTC with milliseconds, formatted once per millisecond (a busy gateway logs
        dozens of requests in one), its seconds part once per second."""
        millisecond = int(time.time() * 1000)
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            second = millisecond // 1000
            if second != self._second:
                self._second = second
                self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._stamp = f"{self._second_text}.{_padded(millisecond % 1000, 1000)}Z"
        return self._stamp

    def write_line(self, line: str) -> None:
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
            lines = self._lines
            if self._shared:
                pieces = _pieces([_encoded(line) for line in lines])
            else:
                pieces = [_encoded("".join(lines))]
            self._lines.clear()
            self._size = 0
            try:
                for piece in pieces:
                    self._stream.write(piece)
                    self._stream.flush()
            except (OSError, ValueError):
                pass  # stdout closed: losing log lines must never stop the proxy


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _pieces(lines: list[bytes]) -> list[bytes]:
    """`lines` joined into pieces of whole lines, each at most `ATOMIC_WRITE` bytes (a longer
    line is a piece of its own)."""
    pieces: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and size + len(line) > ATOMIC_WRITE:
            pieces.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pieces.append(b"".join(current))
    return pieces
