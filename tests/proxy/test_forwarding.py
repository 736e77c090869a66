"""What reaches the pod: a re-serialised request with our framing and forwarding headers."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.proxy.harness import Recorded, exchange, get, manifests, response

pytestmark = pytest.mark.asyncio


async def test_request_is_reserialised_with_forwarding_headers(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(
        gw.port,
        get("App.Test:80", "/a/b?x=1&y=2", headers=[("User-Agent", "t/1"), ("Accept", "*/*")]),
    )
    assert resp.status == 200 and resp.body == b"/a/b?x=1&y=2"
    [req] = up.requests
    assert (req.method, req.target, req.version) == ("GET", "/a/b?x=1&y=2", "1.1")
    assert req.header("Host") == "App.Test:80"
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Real-IP") == "127.0.0.1"
    assert req.header("X-Forwarded-Proto") == "http"
    assert req.header("X-Forwarded-Host") == "App.Test:80"
    assert req.header("X-Forwarded-Port") == str(gw.port)
    assert req.header("User-Agent") == "t/1"
    request_id = req.header("X-Request-ID")
    assert request_id and re.fullmatch("[0-9a-f]{32}", request_id)
    assert resp.header("X-Request-ID") == request_id
    assert resp.header("X-Upstream") == "yes"


async def test_client_request_id_is_kept(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test", headers=[("X-Request-ID", "abc-123")]))
    assert up.requests[0].header("X-Request-ID") == "abc-123"
    assert resp.header("X-Request-ID") == "abc-123"


async def test_hop_by_hop_and_nominated_headers_are_removed(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    await exchange(
        gw.port,
        get(
            "app.test",
            headers=[
                ("X-Early", "named by the Connection header that follows"),
                ("Connection", "keep-alive, X-Secret, Host, x-early"),
                ("X-Secret", "s"),
                ("Keep-Alive", "300"),
                ("Proxy", "http://evil"),
                ("TE", "trailers"),
                ("Trailer", "X"),
                ("Upgrade", "h2c"),
                ("Proxy-Connection", "x"),
                ("X-Kept", "1"),
                ("X_Underscore", "dropped"),
            ],
        ),
    )
    names = up.requests[0].names()
    for gone in (
        "connection",
        "x-secret",
        "keep-alive",
        "proxy",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "x_underscore",
        "x-early",
    ):
        assert gone not in names
    assert "x-kept" in names and names.count("host") == 1


async def hop_by_hop_answer(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """A pod response carrying hop-by-hop headers, two of them nominated by two `Connection`
    headers: one before the headers it names, one after."""
    hops = [("X-Hop-B", "1"), ("Connection", "X-Hop-A"), ("Connection", "keep-alive, X-Hop-B")]
    hops += [("X-Hop-A", "1"), ("Keep-Alive", "timeout=5"), ("X-Kept", "1")]
    writer.write(response(200, b"ok", hops))


async def test_hop_by_hop_and_nominated_response_headers_are_removed(upstreams, gateway) -> None:
    up = await upstreams(hop_by_hop_answer)
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test"))
    assert resp.status == 200 and resp.header("X-Kept") == "1"
    for gone in ("X-Hop-A", "X-Hop-B", "Keep-Alive"):
        assert resp.header(gone) is None, gone
    assert resp.header("Connection") is None  # the pod's are not passed on


async def test_spoofed_forwarding_headers_are_replaced_by_default(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    await exchange(
        gw.port,
        get(
            "app.test",
            headers=[
                ("X-Forwarded-For", "6.6.6.6"),
                ("X-Real-IP", "6.6.6.6"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "evil.test"),
                ("X-Forwarded-Port", "1"),
            ],
        ),
    )
    req = up.requests[0]
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Real-IP") == "127.0.0.1"
    assert req.header("X-Forwarded-Proto") == "http"
    assert req.header("X-Forwarded-Host") == "app.test"
    assert req.header("X-Forwarded-Port") == str(gw.port)


async def test_trusted_proxy_headers_are_kept(upstreams, gateway) -> None:
    up = await upstreams()
    config = {"use-forwarded-headers": "true", "proxy-real-ip-cidr": "127.0.0.0/8, 10.0.0.0/8"}
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])], configmap=config))
    await exchange(
        gw.port,
        get(
            "app.test",
            headers=[
                ("X-Forwarded-For", "203.0.113.9, 10.1.1.1"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "public.example"),
                ("X-Forwarded-Port", "443"),
            ],
        ),
    )
    req = up.requests[0]
    # The rightmost untrusted address is the client (nginx realip with recursion).
    assert req.header("X-Real-IP") == "203.0.113.9"
    assert req.header("X-Forwarded-For") == "203.0.113.9"
    assert req.header("X-Forwarded-Proto") == "https"
    assert req.header("X-Forwarded-Host") == "public.example"
    assert req.header("X-Forwarded-Port") == "443"
    assert gw.access_log()[-1]["remote_addr"] == "203.0.113.9"


async def test_untrusted_peer_with_forwarded_headers_on_is_still_replaced(
    upstreams, gateway
) -> None:
    up = await upstreams()
    config = {"use-forwarded-headers": "true", "proxy-real-ip-cidr": "10.0.0.0/8"}
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])], configmap=config))
    await exchange(gw.port, get("app.test", headers=[("X-Forwarded-For", "6.6.6.6")]))
    assert up.requests[0].header("X-Forwarded-For") == "127.0.0.1"


async def test_compute_full_forwarded_for_appends_the_peer(upstreams, gateway) -> None:
    up = await upstreams()
    config = {
        "use-forwarded-headers": "true",
        "proxy-real-ip-cidr": "127.0.0.1/32",
        "compute-full-forwarded-for": "true",
    }
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])], configmap=config))
    await exchange(gw.port, get("app.test", headers=[("X-Forwarded-For", "198.51.100.7")]))
    req = up.requests[0]
    assert req.header("X-Forwarded-For") == "198.51.100.7, 127.0.0.1"
    assert req.header("X-Real-IP") == "198.51.100.7"


async def test_rewrite_target_changes_the_forwarded_path_and_keeps_the_query(
    upstreams, gateway
) -> None:
    up = await upstreams()
    document = manifests(
        [("app.test", "/api(/|$)(.*)", "ImplementationSpecific", [up.port])],
        annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/$2"},
    )
    gw = await gateway(document)
    [resp] = await exchange(gw.port, get("app.test", "/API/v1/caf%C3%A9 x?q=a%20b"))
    assert resp.status == 400  # a raw space in the target is malformed
    [resp] = await exchange(gw.port, get("app.test", "/API/v1/caf%C3%A9?q=a%20b"))
    assert resp.status == 200
    assert up.requests[-1].target == "/v1/caf%C3%A9?q=a%20b"


@pytest.mark.parametrize(
    "target",
    ["/files/a%2Fb//c", "/files/x?", "/files/x?a=1&&b=%20", "/files/./x/../y?q"],
)
async def test_original_target_is_forwarded_as_received_without_rewrite(
    upstreams, gateway, target: str
) -> None:
    """nginx passes `$request_uri` as it came: escapes, `//`, dot segments and an empty
    query's `?` included."""
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/files", "Prefix", [up.port])]))
    [resp] = await exchange(gw.port, get("app.test", target))
    assert resp.status == 200
    assert up.requests[0].target == target


async def test_absolute_form_routes_by_its_authority(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("good.test", "/", "Prefix", [up.port])]))
    [resp] = await exchange(
        gw.port, b"GET http://good.test/x?y=1 HTTP/1.1\r\nHost: evil.test\r\n\r\n"
    )
    assert resp.status == 200
    req = up.requests[0]
    assert req.target == "/x?y=1" and req.header("Host") == "good.test"
