"""External authentication through a running gateway (issue 7 §7): a real auth service on
loopback that allows, refuses, fails, hangs or is not there at all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.proxy.subrequest import KeepAlive, SubrequestPool
from tests.proxy.harness import Recorded, cluster, exchange, get, ingress, response

pytestmark = pytest.mark.asyncio

N = "nginx.ingress.kubernetes.io/"


async def auth_service(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Decides by the `Authorization` header the client sent: `Bearer ok` passes with an
    `X-User`, `Bearer nobody` is 403, `Bearer broken` is 500, anything else is 401."""
    token = request.header("Authorization")
    cookie = [("Set-Cookie", "session=abc; Path=/")]
    if token == "Bearer ok":
        headers = [("X-User", "alice"), ("X-Ignored", "1"), *cookie]
        writer.write(response(200, b"", headers))
    elif token == "Bearer nobody":
        writer.write(response(403, b"no"))
    elif token == "Bearer broken":
        writer.write(response(500, b"oops"))
    else:
        writer.write(response(401, b"who?", [("WWW-Authenticate", 'Bearer realm="sso"'), *cookie]))


async def slow_service(request: Recorded, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)
    writer.write(response(200, b""))


def _guarded(auth_port: int, **extra: str) -> dict[str, str]:
    url = f"http://127.0.0.1:{auth_port}/verify?host=$host"
    return {N + "auth-url": url, N + "auth-response-headers": "X-User, X-Group", **extra}


async def _setup(upstreams, gateway, *, service=auth_service, config=None, extra_objects=(),
                 **annotations: str):  # fmt: skip
    pod = await upstreams()
    auth = await upstreams(service)
    document = cluster(
        [ingress(_guarded(auth.port, **annotations))],
        {"svc": [pod.port]},
        {"gateway-config": config or {}},
    )
    document["items"].extend(extra_objects)
    return pod, auth, await gateway(document)


def _request(token: str | None = None, path: str = "/x?a=1", **kwargs: Any) -> bytes:
    headers = [("Authorization", token)] if token else []
    headers += kwargs.pop("headers", [])
    return get("app.test", path, headers=headers, **kwargs)


async def test_an_allowed_request_carries_the_service_s_headers(upstreams, gateway) -> None:
    pod, _auth, gw = await _setup(upstreams, gateway)
    spoofed = [("X-User", "mallory"), ("X-Group", "admins"), ("Cookie", "sid=1")]
    [resp] = await exchange(gw.port, _request("Bearer ok", headers=spoofed))
    assert resp.status == 200
    [seen] = pod.requests
    assert seen.header("X-User") == "alice"  # the service's, not the client's
    assert seen.header("X-Group") is None  # listed but not given: the client's is dropped too
    assert seen.header("X-Ignored") is None  # not listed
    assert resp.header("Set-Cookie") == "session=abc; Path=/"


async def test_the_sub_request_is_ingress_nginx_s(upstreams, gateway) -> None:
    pod, auth, gw = await _setup(upstreams, gateway)
    raw = _request("Bearer ok", method="POST", body=b"secret body", headers=[("Cookie", "sid=1")])
    [resp] = await exchange(gw.port, raw)
    assert resp.status == 200
    [check] = auth.requests
    assert (check.method, check.target, check.body) == ("GET", "/verify?host=app.test", b"")
    assert check.header("Content-Length") is None
    assert check.header("Host") == f"127.0.0.1:{auth.port}"
    assert check.header("Cookie") == "sid=1" and check.header("Authorization") == "Bearer ok"
    assert check.header("X-Original-URI") == "/x?a=1"
    assert check.header("X-Original-URL") == "http://app.test/x?a=1"
    assert check.header("X-Original-Method") == "POST"
    assert check.header("X-Auth-Request-Redirect") == "/x?a=1"
    assert check.header("X-Forwarded-For") == "127.0.0.1"
    assert check.header("X-Sent-From") == "nginx-ingress-controller"
    assert check.header("X-Request-ID") == resp.header("X-Request-ID")
    assert pod.requests[0].body == b"secret body"  # the body still reaches the pod


async def test_auth_method_and_request_redirect(upstreams, gateway) -> None:
    _pod, auth, gw = await _setup(
        upstreams, gateway, **{N + "auth-method": "POST", N + "auth-request-redirect": "/back"}
    )
    await exchange(gw.port, _request("Bearer ok"))
    [check] = auth.requests
    assert check.method == "POST" and check.header("X-Auth-Request-Redirect") == "/back"


@pytest.mark.parametrize(
    ("token", "status"),
    [("Bearer nobody", 403), ("Bearer broken", 500), (None, 401)],
)
async def test_refusals(upstreams, gateway, token: str | None, status: int) -> None:
    pod, _auth, gw = await _setup(upstreams, gateway)
    [resp] = await exchange(gw.port, _request(token))
    assert resp.status == status and pod.requests == []
    assert resp.header("Set-Cookie") is None  # only with auth-always-set-cookie
    if status == 401:
        assert resp.header("WWW-Authenticate") == 'Bearer realm="sso"'


async def test_a_401_goes_to_auth_signin(upstreams, gateway) -> None:
    signin = {N + "auth-signin": "https://login.test/start"}
    _pod, _auth, gw = await _setup(upstreams, gateway, **signin)
    [resp] = await exchange(gw.port, _request(None))
    assert resp.status == 302
    assert resp.header("Location") == "https://login.test/start?rd=http://app.test%2Fx%3Fa%3D1"
    [forbidden] = await exchange(gw.port, _request("Bearer nobody"))
    assert forbidden.status == 403  # only 401 is sent to sign in


async def test_signin_with_its_own_parameter_name(upstreams, gateway) -> None:
    signin = {
        N + "auth-signin": "https://login.test/start?app=1",
        N + "auth-signin-redirect-param": "return_to",
    }
    _pod, _auth, gw = await _setup(upstreams, gateway, **signin)
    [resp] = await exchange(gw.port, _request(None, path="/"))
    assert resp.header("Location") == "https://login.test/start?app=1&return_to=http://app.test%2F"


async def test_always_set_cookie_reaches_refusals_too(upstreams, gateway) -> None:
    _pod, _auth, gw = await _setup(upstreams, gateway, **{N + "auth-always-set-cookie": "true"})
    [resp] = await exchange(gw.port, _request(None))
    assert resp.status == 401 and resp.header("Set-Cookie") == "session=abc; Path=/"


async def test_a_dead_auth_service_answers_500(upstreams, gateway) -> None:
    pod = await upstreams()
    dead = await upstreams()
    await dead.stop()  # the port is closed: connection refused
    gw = await gateway(cluster([ingress(_guarded(dead.port))], {"svc": [pod.port]}))
    [resp] = await exchange(gw.port, _request("Bearer ok"))
    assert resp.status == 500 and pod.requests == []


async def test_a_slow_auth_service_times_out_with_the_route_s_read_timeout(
    upstreams, gateway
) -> None:
    timeout = {N + "proxy-read-timeout": "1"}
    pod, _auth, gw = await _setup(upstreams, gateway, service=slow_service, **timeout)
    started = time.monotonic()
    [resp] = await exchange(gw.port, _request("Bearer ok"))
    assert resp.status == 500 and pod.requests == []
    assert 0.9 < time.monotonic() - started < 4


async def test_answers_are_cached_per_key(upstreams, gateway) -> None:
    cache = {N + "auth-cache-key": "$http_authorization", N + "auth-cache-duration": "200 1m"}
    pod, auth, gw = await _setup(upstreams, gateway, **cache)
    for token in ("Bearer ok", "Bearer ok", "Bearer ok"):
        assert (await exchange(gw.port, _request(token)))[0].status == 200
    for _ in range(2):
        assert (await exchange(gw.port, _request("Bearer nobody")))[0].status == 403
    assert len(auth.requests) == 3  # one for the cached 200, each 403 asked again
    assert [r.header("X-User") for r in pod.requests] == ["alice"] * 3  # cached headers too


@pytest.mark.parametrize(("keepalive", "connections"), [("0", 3), ("2", 1)])
async def test_keepalive_to_the_auth_service(
    upstreams, gateway, keepalive: str, connections: int
) -> None:
    _pod, auth, gw = await _setup(upstreams, gateway, **{N + "auth-keepalive": keepalive})
    for _ in range(3):
        assert (await exchange(gw.port, _request("Bearer ok")))[0].status == 200
    assert len({r.connection for r in auth.requests}) == connections


async def test_keepalive_requests_bounds_a_connection(upstreams, gateway) -> None:
    limits = {N + "auth-keepalive": "2", N + "auth-keepalive-requests": "2"}
    _pod, auth, gw = await _setup(upstreams, gateway, **limits)
    for _ in range(4):
        assert (await exchange(gw.port, _request("Bearer ok")))[0].status == 200
    assert [r.connection for r in auth.requests] == [1, 1, 2, 2]


async def test_proxy_set_headers_from_a_configmap(upstreams, gateway) -> None:
    headers = {
        "kind": "ConfigMap",
        "metadata": {"name": "auth-headers", "namespace": "default"},
        "data": {"X-Client-Secret": "s3cret"},
    }
    named = {N + "auth-proxy-set-headers": "auth-headers"}
    _pod, auth, gw = await _setup(upstreams, gateway, extra_objects=[headers], **named)
    assert (await exchange(gw.port, _request("Bearer ok")))[0].status == 200
    assert auth.requests[0].header("X-Client-Secret") == "s3cret"


async def test_a_missing_proxy_set_headers_configmap_answers_503(upstreams, gateway) -> None:
    named = {N + "auth-proxy-set-headers": "auth-headers"}
    pod, auth, gw = await _setup(upstreams, gateway, **named)
    assert (await exchange(gw.port, _request("Bearer ok")))[0].status == 503
    assert auth.requests == [] and pod.requests == []
    [problem] = [p for p in gw.gateway.holder.current.problems if p.severity == "error"]
    assert problem.code == "MissingConfigMap"


@pytest.mark.parametrize(
    ("client", "token", "status"),
    [("10.0.0.1", None, 200), ("11.0.0.1", "Bearer ok", 200), ("11.0.0.1", None, 401)],
)
async def test_satisfy_any_with_an_allow_list(
    upstreams, gateway, client: str, token: str | None, status: int
) -> None:
    rules = {N + "satisfy": "any", N + "whitelist-source-range": "10.0.0.0/8"}
    config = {"use-forwarded-headers": "true"}
    _pod, _auth, gw = await _setup(upstreams, gateway, config=config, **rules)
    raw = _request(token, headers=[("X-Forwarded-For", client)])
    assert (await exchange(gw.port, raw))[0].status == status


async def closes_after_answering(request: Recorded, writer: asyncio.StreamWriter) -> None:
    """Answers as if the connection stayed open, then closes it (an idle timeout)."""
    writer.write(response(200, b""))
    await writer.drain()
    writer.close()


async def test_a_kept_connection_the_service_closed_is_replaced(upstreams, gateway) -> None:
    keep = {N + "auth-keepalive": "2"}
    _pod, auth, gw = await _setup(upstreams, gateway, service=closes_after_answering, **keep)
    for _ in range(3):
        assert (await exchange(gw.port, _request("Bearer ok")))[0].status == 200
        await asyncio.sleep(0.05)  # the close reaches the gateway's idle connection
    assert auth.connections == 3 and len(auth.requests) == 3


async def test_headers_the_client_s_connection_names_stay_behind(upstreams, gateway) -> None:
    _pod, auth, gw = await _setup(upstreams, gateway)
    hop = [("Connection", "X-Hop"), ("X-Hop", "1"), ("X-Kept", "1")]
    assert (await exchange(gw.port, _request("Bearer ok", headers=hop)))[0].status == 200
    [check] = auth.requests
    assert check.header("X-Hop") is None and check.header("X-Kept") == "1"


async def test_idle_connections_to_a_service_expire(upstreams) -> None:
    service = await upstreams(auth_service)
    pool = SubrequestPool()
    keep = KeepAlive(connections=2, timeout=30.0)
    url = f"http://127.0.0.1:{service.port}/verify"
    answer = await pool.fetch(url, "GET", [], connect_timeout=1, read_timeout=1, keepalive=keep)
    assert answer.status == 401
    loop = asyncio.get_running_loop()
    pool.expire(loop.time() + 1)  # not yet: kept
    await pool.fetch(url, "GET", [], connect_timeout=1, read_timeout=1, keepalive=keep)
    assert service.connections == 1
    pool.expire(loop.time() + 31)  # the keep-alive time is over: closed
    await pool.fetch(url, "GET", [], connect_timeout=1, read_timeout=1, keepalive=keep)
    assert service.connections == 2
    pool.close_all()
