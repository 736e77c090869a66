"""The access log's own formatting: JSON strings, seconds and timestamps, without format specs
(the end-to-end keys and escaping are checked through a running gateway in tests/proxy)."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import random
import re
import time

import pytest

from gateway.accesslog import ATOMIC_WRITE, AccessLog, escaped, json_text, plain, seconds_text


@pytest.mark.parametrize(
    "value",
    [
        "",
        "/a/b?x=1",
        "10.0.0.1",
        'q"uote',
        "back\\slash",
        "tab\there",
        "del\x7f",
        "caf\xe9",
        "\u2603",
    ],
)
def test_json_text_is_the_json_string(value: str) -> None:
    assert json.loads(json_text(value)) == value
    assert json_text(value) == json.dumps(value)
    assert f'"{escaped(value)}"' == json.dumps(value)
    assert plain(value) == (escaped(value) == value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.000000"),
        (-0.25, "0.000000"),
        (1.5, "1.500000"),
        (0.000123, "0.000123"),
        (59.9999996, "60.000000"),
        (3600.25, "3600.250000"),
    ],
)
def test_seconds_text(value: float, text: str) -> None:
    assert seconds_text(value) == text


def test_seconds_text_agrees_with_a_format_spec() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        value = rng.uniform(0, 120)
        text = seconds_text(value)
        assert re.fullmatch(r"\d+\.\d{6}", text)
        # Equal to f"{value:.6f}" but at an exact half microsecond, where it may round up.
        assert abs(float(text) - float(f"{value:.6f}")) <= 1.000001e-6


def test_whole_milliseconds_come_from_the_table_and_agree_with_a_format_spec() -> None:
    """uvloop's clock counts milliseconds: most durations are whole ones, and a table has the
    text of each under a second."""
    for milli in range(1200):
        value = milli / 1000
        assert seconds_text(value) == f"{value:.6f}", milli


def test_the_timestamp_follows_the_clock_across_milliseconds_and_seconds() -> None:
    """The timestamp is formatted once per millisecond: each line still gets its own."""

    async def stamps() -> list[tuple[float, str]]:
        log = AccessLog(io.BytesIO(), asyncio.get_running_loop())
        seen = []
        for _ in range(200):
            before = time.time()
            stamp = log._timestamp()
            seen.append((before, stamp))
            await asyncio.sleep(0.0007)
        return seen

    for before, stamp in asyncio.run(stamps()):
        wall = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        assert before - 0.001 <= wall <= before + 0.002, (before, stamp)


def test_a_line_carries_an_iso_timestamp_with_milliseconds() -> None:
    async def one_line() -> bytes:
        stream = io.BytesIO()
        log = AccessLog(stream, asyncio.get_running_loop())
        log.write_early(400, "10.0.0.1")
        log.flush()
        return stream.getvalue()

    line = json.loads(asyncio.run(one_line()))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]), line["time"]
    assert (line["status"], line["remote_addr"], line["request_time"]) == (400, "10.0.0.1", 0.0)


@pytest.mark.parametrize("shared", [False, True])
def test_lines_are_written_whole_and_in_order(shared: bool) -> None:
    """Lines are queued as text and encoded at the flush: once for the whole batch, or line by
    line into pieces no longer than a pipe writes whole when workers share the stream."""

    class Writes(io.BytesIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[bytes] = []

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.writes.append(bytes(data))
            return super().write(data)

    async def lines() -> Writes:
        stream = Writes()
        log = AccessLog(stream, asyncio.get_running_loop(), shared=shared)
        for index in range(40):
            log.write_early(400 + index % 2, f"10.0.0.{index}")
        log.flush()
        return stream

    stream = asyncio.run(lines())
    written = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["remote_addr"] for line in written] == [f"10.0.0.{i}" for i in range(40)]
    if shared:
        assert len(stream.writes) > 1
        assert all(len(w) <= ATOMIC_WRITE and w.endswith(b"\n") for w in stream.writes)
    else:
        assert len(stream.writes) == 1
