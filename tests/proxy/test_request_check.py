"""`check` on its own: the Host rules and the bounded cache of hosts already checked; and the
request's HTTP version as the protocol reads it (`http_version`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httptools
import pytest

from gateway.proxy import request
from gateway.proxy.request import RequestHead, check, http_version
from routing.paths import normalise_request_path


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with no host remembered, so its first request is checked in full."""
    request._HOSTS.clear()
    yield
    request._HOSTS.clear()


def head(host: bytes | None, version: str = "1.1", target: bytes = b"/") -> RequestHead:
    headers = [] if host is None else [(b"Host", host)]
    return RequestHead("GET", target, version, headers, True)


@pytest.mark.parametrize(
    ("host", "matching"),
    [
        (b"Shop.Test", "shop.test"),
        (b"shop.test.:8080", "shop.test"),
        (b"[::1]:8443", "[::1]"),
        (b"10.0.0.1:80", "10.0.0.1"),
    ],
)
def test_the_host_is_matched_in_request_host_form(host: bytes, matching: str) -> None:
    for _ in range(2):  # checked, then remembered
        request_head = head(host)
        assert check(request_head, 8192) == 0
        assert (request_head.host_header, request_head.host) == (host, matching)


@pytest.mark.parametrize("host", [b"", b"a b", b"user@shop.test", b"shop.test:123456"])
def test_a_malformed_host_is_refused_every_time(host: bytes) -> None:
    for _ in range(2):  # checked, then remembered as malformed
        assert check(head(host), 8192) == 400
        assert dict(request._HOSTS) == {host: None}


def test_a_request_without_host_is_served_only_in_http_1_0() -> None:
    assert check(head(None), 8192) == 400
    request_head = head(None, version="1.0")
    assert check(request_head, 8192) == 0 and request_head.host == ""


def test_the_absolute_form_authority_wins_over_host() -> None:
    request_head = head(b"other.test", target=b"http://Shop.Test:80/a?b")
    assert check(request_head, 8192) == 0
    assert (request_head.host, request_head.target) == ("shop.test", b"/a?b")


def test_the_cache_of_hosts_stays_bounded() -> None:
    limit = request._HOSTS_LIMIT
    for i in range(3 * limit):
        request_head = head(b"h%d.test" % i)
        assert check(request_head, 8192) == 0 and request_head.host == f"h{i}.test"
        assert 0 < len(request._HOSTS) <= limit


def test_the_lower_case_names_stay_in_step_with_the_headers() -> None:
    """`names` is what every lookup by name reads: `check` drops headers (underscores) and
    strips values, and the two lists must still pair up."""
    raw = [
        (b"Host", b"a.test"),
        (b"X_Dropped", b"1"),
        (b"X-Request-ID", b" id "),
        (b"ACCEPT", b"*"),
    ]
    checked = RequestHead("GET", b"/", "1.1", raw, True)
    assert checked.names == [b"host", b"x_dropped", b"x-request-id", b"accept"]
    assert check(checked, 8192) == 0
    assert checked.names == [b"host", b"x-request-id", b"accept"]
    assert [name.lower() for name, _ in checked.headers] == checked.names
    assert request.header_value(checked, b"accept") == b"*"
    assert checked.header("X-Request-Id") == "id"


@pytest.mark.parametrize(
    ("raw", "trimmed"),
    [
        (b"v", b"v"),
        (b"", b""),
        (b"a b", b"a b"),
        (b"v \t", b"v"),
        (b"\t v", b"v"),
        (b"  ", b""),
        (b"\x0bv", b"\x0bv"),  # only spaces and tabs are OWS
    ],
)
def test_values_lose_the_blanks_around_them_and_only_those(raw: bytes, trimmed: bytes) -> None:
    assert request.without_ows(raw) == trimmed


def test_a_stripped_value_replaces_the_one_received() -> None:
    checked = RequestHead("GET", b"/", "1.1", [(b"Host", b"a.test"), (b"Accept", b"*/* \t")], True)
    assert check(checked, 8192) == 0
    assert checked.headers == [(b"Host", b"a.test"), (b"Accept", b"*/*")]


def test_lower_case_names_come_from_a_bounded_cache() -> None:
    """Peers choose the names: the cache keeps short ones only and never grows past its limit,
    and what it answers is always the name in lower case."""
    request._NAMES.clear()
    long_name = b"X-" + b"A" * 100
    assert request.lower_name(long_name) == long_name.lower()
    assert long_name not in request._NAMES
    for i in range(3 * request._NAMES_LIMIT):
        name = b"X-Name-%d" % i
        assert request.lower_name(name) == name.lower()
        assert request.lower_name(name) == name.lower()  # from the cache
        assert len(request._NAMES) <= request._NAMES_LIMIT


def test_request_ids_are_32_hex_digits_and_do_not_repeat() -> None:
    ids = request.RequestIds()
    made = [ids.next() for _ in range(5 * request.RequestIds.BATCH + 3)]
    assert all(len(i) == 32 and int(i, 16) >= 0 and i == i.lower() for i in made)
    assert len(set(made)) == len(made)


def test_a_forked_worker_makes_request_ids_of_its_own() -> None:
    """The IDs are made in batches: a worker forked after its parent made one must not hand out
    the rest of the parent's batch."""
    request._REQUEST_IDS.next()  # the parent has a batch under way
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(writer, request._REQUEST_IDS.next().encode())
        os._exit(0)
    os.close(writer)
    child_id = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(pid, 0)
    assert len(child_id) == 32
    assert child_id != request._REQUEST_IDS.next()


@pytest.mark.parametrize(
    "path",
    ["/", "/a/b", "/a//b", "/a/./b", "/a/../b", "/..", "/a/.", "/.well-known", "/%41", "/a%2", "a"],
)
def test_the_path_is_routed_in_normalise_request_path_form(path: str) -> None:
    """`check` skips the (interpreted) normalisation for paths already in routing form: it must
    agree with `normalise_request_path` on both sides of that shortcut."""
    normalised = normalise_request_path(path)
    checked = head(b"a.test", target=path.encode() + b"?q=1")
    status = check(checked, 8192)
    if normalised is None:
        assert status == 400
    else:
        assert status == 0
        assert (checked.path, checked.raw_path, checked.query_string) == (normalised, path, "q=1")


class _Heads:
    """An httptools callback target that keeps the headers, as the protocol does."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))


@pytest.mark.parametrize(
    "extra",
    [
        b"",
        b"Connection: close\r\n",
        b"Connection: keep-alive\r\n",
        b"CONNECTION: Keep-Alive\r\n",
        b"Proxy-Connection: keep-alive\r\n",
        b"Keep-Alive: timeout=5\r\n",
        b"User-Agent: curl/8.0\r\nAccept: */*\r\n",
        b"Connection: Upgrade, keep-alive\r\nUpgrade: websocket\r\n",
    ],
)
def test_the_version_known_without_asking_httptools_is_the_one_it_parsed(extra: bytes) -> None:
    """`http_version` answers "1.1" for a kept-alive request with no `Connection`-like header
    without asking httptools: true of every version the installed llhttp accepts."""
    accepted = []
    for major in range(10):
        for minor in range(10):
            heads = _Heads()
            parser = httptools.HttpRequestParser(heads)
            raw = b"GET / HTTP/%d.%d\r\nHost: a.test\r\n%b\r\n" % (major, minor, extra)
            try:
                parser.feed_data(raw)
            except httptools.HttpParserError:
                continue
            except httptools.HttpParserUpgrade:
                pass
            keep_alive = parser.should_keep_alive()
            names = [name.lower() for name, _ in heads.headers]
            assert http_version(parser, keep_alive, names) == parser.get_http_version()
            accepted.append(parser.get_http_version())
    assert {"1.0", "1.1"} <= set(accepted), accepted
