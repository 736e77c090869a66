"""Request path normalisation: what nginx's $uri is before location matching."""

from __future__ import annotations

import pytest

from routing.paths import normalise_request_path, prefix_key, request_host


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        pytest.param("/a/b", "/a/b", id="plain"),
        pytest.param("/a//b///c", "/a/b/c", id="merge-slashes"),
        pytest.param("/a/./b", "/a/b", id="dot"),
        pytest.param("/a/b/../c", "/a/c", id="dot-dot"),
        pytest.param("/a/b/..", "/a/", id="trailing-dot-dot"),
        pytest.param("/a/%2e%2e/b", "/b", id="encoded-dot-dot"),
        pytest.param("/caf%C3%A9", "/café", id="utf8-escape"),
        pytest.param("/a%2Fb", "/a/b", id="encoded-slash-decoded-as-nginx"),
        pytest.param("/..", None, id="above-root"),
        pytest.param("/a/../../b", None, id="climbs-above-root"),
        pytest.param("/%zz", None, id="bad-escape"),
        pytest.param("/%4", None, id="short-escape"),
        pytest.param("/a%00b", None, id="nul"),
        pytest.param("a/b", None, id="relative"),
        pytest.param("*", None, id="asterisk-form"),
    ],
)
def test_normalise_request_path(raw: str, normalised: str | None) -> None:
    assert normalise_request_path(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("Example.COM", "example.com"),
        ("example.com:80", "example.com"),
        ("example.com.", "example.com"),
        ("[::1]:80", "[::1]"),
        ("[::1]", "[::1]"),
        ("", ""),
    ],
)
def test_request_host(raw: str, host: str) -> None:
    assert request_host(raw) == host


@pytest.mark.parametrize(("path", "key"), [("/", "/"), ("/a/", "/a"), ("/a//", "/a"), ("//", "/")])
def test_prefix_key(path: str, key: str) -> None:
    assert prefix_key(path) == key
