"""`check` on its own: the Host rules and the bounded cache of hosts already checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.proxy import request
from gateway.proxy.request import RequestHead, check


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with no host remembered, so its first request is checked in full."""
    request._matching_host.cache_clear()
    yield
    request._matching_host.cache_clear()


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


def test_a_request_without_host_is_served_only_in_http_1_0() -> None:
    assert check(head(None), 8192) == 400
    request_head = head(None, version="1.0")
    assert check(request_head, 8192) == 0 and request_head.host == ""


def test_the_absolute_form_authority_wins_over_host() -> None:
    request_head = head(b"other.test", target=b"http://Shop.Test:80/a?b")
    assert check(request_head, 8192) == 0
    assert (request_head.host, request_head.target) == ("shop.test", b"/a?b")


def test_the_cache_of_hosts_stays_bounded() -> None:
    limit = request._matching_host.cache_info().maxsize
    assert limit is not None
    for i in range(3 * limit):
        request_head = head(b"h%d.test" % i)
        assert check(request_head, 8192) == 0 and request_head.host == f"h{i}.test"
    assert request._matching_host.cache_info().currsize == limit


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
