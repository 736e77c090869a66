"""`response_head` on its own: the re-serialised head, its status-line cache and name kinds."""

from __future__ import annotations

from gateway.proxy import response_head as module
from gateway.proxy.request import RequestHead
from gateway.proxy.response_head import response_head


def request() -> RequestHead:
    head = RequestHead("GET", b"/", "1.1", [(b"Host", b"a.test")], True)
    head.request_id = "f" * 32
    return head


def head_of(status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(response_head(status, reason, headers, request(), None)[0])


def test_each_status_line_keeps_the_reason_the_pod_sent() -> None:
    """Status lines are cached by status: a different reason for the same status is its own."""
    length = [(b"Content-Length", b"0")]
    for reason in (b"OK", b"Fine", b"OK", b""):
        expected = reason or b"OK"
        assert head_of(200, reason, length).startswith(b"HTTP/1.1 200 %b\r\n" % expected)
    long_reason = b"R" * 100
    assert head_of(299, long_reason, length).startswith(b"HTTP/1.1 299 %b\r\n" % long_reason)
    assert 299 not in module._STATUS_LINES  # long reasons are not kept
    assert head_of(299, b"", length).startswith(b"HTTP/1.1 299 ")


def test_headers_are_rewritten_by_kind() -> None:
    head = head_of(
        200,
        b"OK",
        [
            (b"Server", b"pod \t"),
            (b"Connection", b"Keep-Alive, X-Secret"),
            (b"X-Secret", b"1"),
            (b"KEEP-ALIVE", b"timeout=5"),
            (b"Content-Length", b"2 "),
            (b"x-request-id", b"from-pod"),
            (b"Trailer", b"X"),
        ],
    )
    assert head == (
        b"HTTP/1.1 200 OK\r\nServer: pod\r\nx-request-id: from-pod\r\nContent-Length: 2\r\n"
    )


def test_a_plain_connection_value_names_no_header() -> None:
    head = head_of(
        200, b"OK", [(b"Connection", b"Close"), (b"Close", b"1"), (b"Content-Length", b"0")]
    )
    assert b"Close: 1\r\n" in head
    assert b"X-Request-ID: " + b"f" * 32 + b"\r\n" in head


def test_kinds_are_remembered_by_the_name_as_sent_in_a_bounded_cache() -> None:
    """Each spelling of a name is its own entry with the kind of its lower-case form; pods
    choose the names, so long ones are not kept and the cache never passes its limit."""
    module._KINDS_AS_SENT.clear()
    for _ in range(2):  # looked up, then remembered
        head = head_of(
            200, b"OK", [(b"CONTENT-LENGTH", b"1"), (b"Te", b"x"), (b"X-Request-Id", b"pod")]
        )
        assert head == b"HTTP/1.1 200 OK\r\nX-Request-Id: pod\r\nContent-Length: 1\r\n"
    assert module._KINDS_AS_SENT[b"CONTENT-LENGTH"] == module._LENGTH
    long_name = b"X-" + b"L" * 100
    assert head_of(200, b"OK", [(long_name, b"1")]).count(long_name) == 1
    assert long_name not in module._KINDS_AS_SENT
    for i in range(3 * module._KINDS_LIMIT):
        name = b"X-Name-%d" % i
        assert b"%b: v\r\n" % name in head_of(200, b"OK", [(name, b"v")])
        assert len(module._KINDS_AS_SENT) <= module._KINDS_LIMIT
