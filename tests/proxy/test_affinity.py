"""Cookie affinity through a running gateway against recording pods (issue 6 group 2)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gateway.proxy.affinity import samesite_none_compatible
from tests.objects import compile_objects, ingress, path, rule
from tests.proxy.harness import Response, cluster, exchange, get

N = "nginx.ingress.kubernetes.io/"
HOST = "sticky.test"


def document(
    annotations: dict[str, str],
    ports: list[int],
    canary: dict[str, str] | None = None,
    canary_ports: tuple[int, ...] = (),
) -> dict[str, Any]:
    """The `app` Ingress on HOST, and a `beta` canary Ingress when `canary` is given."""
    ingresses = [ingress("app", rule(HOST, path("/", service="app")), annotations=annotations)]
    services = {"app": ports}
    if canary is not None:
        ingresses.append(ingress("beta", rule(HOST, path("/", service="beta")), annotations=canary))
        services["beta"] = list(canary_ports)
    return cluster(ingresses, services)


def session_of(resp: Response, name: str = "INGRESSCOOKIE") -> str | None:
    """The affinity cookie's value a response sets, or None."""
    header = resp.header("set-cookie")
    if header is None:
        return None
    first = header.split(";", 1)[0]
    key, _, value = first.partition("=")
    return value if key == name else None


async def send(gw, requests: list[bytes]) -> tuple[list[Response], list[int]]:  # type: ignore[no-untyped-def]
    """Responses and the port of the pod that finally answered each request."""
    responses = await exchange(gw.port, b"".join(requests), responses=len(requests))
    assert [r.status for r in responses] == [200] * len(requests)
    ports = [int(e["upstream_addr"].rsplit(":", 1)[1]) for e in gw.access_log()[-len(requests) :]]
    return responses, ports


def with_cookie(value: str, name: str = "INGRESSCOOKIE", **extra: str) -> bytes:
    return get(HOST, "/", headers=[("Cookie", f"{name}={value}"), *extra.items()])


async def new_sessions(gw, count: int) -> tuple[list[str], list[int]]:  # type: ignore[no-untyped-def]
    responses, ports = await send(gw, [get(HOST, f"/{i}") for i in range(count)])
    sessions = [session_of(r) for r in responses]
    assert all(s is not None for s in sessions)
    return [s for s in sessions if s is not None], ports


async def test_a_session_sticks_to_its_pod(upstreams, gateway) -> None:
    ups = [await upstreams() for _ in range(3)]
    gw = await gateway(document({N + "affinity": "cookie"}, [u.port for u in ups]))
    [first], _ = await send(gw, [get(HOST, "/")])
    cookie = first.header("set-cookie")
    assert cookie is not None and cookie.endswith("; Path=/; HttpOnly"), cookie
    sessions, ports = await new_sessions(gw, 60)
    assert len(set(ports)) == 3  # new sessions spread over the pods
    for session, port in list(zip(sessions, ports, strict=True))[:10]:
        responses, again = await send(gw, [with_cookie(session)] * 5)
        assert again == [port] * 5
        assert all(r.header("set-cookie") is None for r in responses)  # nothing to change


async def test_balanced_sessions_of_a_pod_that_left_move_without_a_new_cookie(
    upstreams, gateway
) -> None:
    ups = [await upstreams() for _ in range(3)]
    annotations = {N + "affinity": "cookie"}
    gw = await gateway(document(annotations, [u.port for u in ups]))
    sessions, ports = await new_sessions(gw, 60)
    await gw.update(document(annotations, [u.port for u in ups[:2]]))
    responses, after = await send(gw, [with_cookie(s) for s in sessions])
    gone = ups[2].port
    for before, now in zip(ports, after, strict=True):
        assert now == before if before != gone else now != gone
    assert all(r.header("set-cookie") is None for r in responses)
    # Scale back up: only about a third of the sessions move to the new pod (consistent hash).
    await gw.update(document(annotations, [u.port for u in ups]))
    _, back = await send(gw, [with_cookie(s) for s in sessions])
    moved = sum(1 for a, b in zip(after, back, strict=True) if a != b)
    assert all(b == gone for a, b in zip(after, back, strict=True) if a != b)
    assert 5 <= moved <= 40, moved


async def test_persistent_sessions_never_move_to_new_pods(upstreams, gateway) -> None:
    ups = [await upstreams() for _ in range(4)]
    annotations = {N + "affinity": "cookie", N + "affinity-mode": "persistent"}
    gw = await gateway(document(annotations, [u.port for u in ups[:3]]))
    sessions, ports = await new_sessions(gw, 30)
    await gw.update(document(annotations, [u.port for u in ups]))  # a fourth pod
    _, after = await send(gw, [with_cookie(s) for s in sessions])
    assert after == ports
    # The first pod leaves: its sessions get a live pod and a new cookie naming it.
    await gw.update(document(annotations, [u.port for u in ups[1:]]))
    responses, moved = await send(gw, [with_cookie(s) for s in sessions])
    for before, now, resp in zip(ports, moved, responses, strict=True):
        if before == ups[0].port:
            new = session_of(resp)
            assert now != before and new is not None
            _, again = await send(gw, [with_cookie(new)] * 3)
            assert again == [now] * 3
        else:
            assert now == before and session_of(resp) is None


async def test_change_on_failure_moves_the_cookie_to_the_pod_that_answered(
    upstreams, gateway
) -> None:
    for change in (False, True):
        ups = [await upstreams() for _ in range(2)]
        annotations = {N + "affinity": "cookie", N + "affinity-mode": "persistent"}
        if change:
            annotations[N + "session-cookie-change-on-failure"] = "true"
        gw = await gateway(document(annotations, [u.port for u in ups]))
        sessions, ports = await new_sessions(gw, 10)
        session = sessions[ports.index(ups[0].port)]
        await ups[0].stop()  # still an endpoint, but refuses connections
        [resp], [port] = await send(gw, [with_cookie(session)])
        assert port == ups[1].port
        new = session_of(resp)
        assert (new is not None and new != session) if change else new is None
        await gw.stop()


async def test_cookie_attributes(upstreams, gateway) -> None:
    up = await upstreams()
    annotations = {
        N + "affinity": "cookie",
        N + "session-cookie-name": "route",
        N + "session-cookie-domain": ".sticky.test",
        N + "session-cookie-max-age": "600",
        N + "session-cookie-expires": "600",
        N + "session-cookie-secure": "true",
        N + "session-cookie-samesite": "None",
        N + "session-cookie-conditional-samesite-none": "true",
    }
    doc = cluster(
        [ingress("app", rule(HOST, path("/shop", service="app")), annotations=annotations)],
        {"app": [up.port]},
    )
    gw = await gateway(doc)
    modern = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    old = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/60.0.3112.113 Safari/537.36"
    responses, _ = await send(
        gw, [get(HOST, "/shop/a", headers=[("User-Agent", ua)]) for ua in (modern, old)]
    )
    cookies = [r.header("set-cookie") or "" for r in responses]
    attributes = [c.split("; ")[1:] for c in cookies]
    assert attributes[0][0] == "Path=/shop" and attributes[0][1] == "Domain=.sticky.test"
    assert attributes[0][2].startswith("Expires=") and attributes[0][2].endswith(" GMT")
    assert attributes[0][3:] == ["Max-Age=600", "Secure", "HttpOnly", "SameSite=None"]
    assert attributes[1][3:] == ["Max-Age=600", "Secure", "HttpOnly"]  # Chrome 60 rejects None


async def test_a_client_sent_to_the_canary_stays_there(upstreams, gateway) -> None:
    primary, beta = await upstreams(), await upstreams()
    canary = {N + "canary": "true", N + "canary-weight": "50"}
    gw = await gateway(document({N + "affinity": "cookie"}, [primary.port], canary, (beta.port,)))
    sessions, ports = await new_sessions(gw, 40)
    assert set(ports) == {primary.port, beta.port}
    _, again = await send(gw, [with_cookie(s) for s in sessions for _ in range(3)])
    assert again == [p for p in ports for _ in range(3)]
    # `legacy`: the canary has no affinity, so each request is weighed again; a client pinned
    # to the primary still stays there.
    legacy = {**canary, N + "affinity-canary-behavior": "legacy"}
    await gw.update(document({N + "affinity": "cookie"}, [primary.port], legacy, (beta.port,)))
    pinned = [s for s, p in zip(sessions, ports, strict=True) if p == primary.port]
    _, stay = await send(gw, [with_cookie(s) for s in pinned])
    assert set(stay) == {primary.port}
    responses, fresh = await send(gw, [get(HOST, f"/{i}") for i in range(60)])
    canaried = [r for r, p in zip(responses, fresh, strict=True) if p == beta.port]
    assert canaried and all(session_of(r) is None for r in canaried)
    assert Counter(fresh)[beta.port] < 60


@pytest.mark.parametrize(
    ("user_agent", "compatible"),
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15", False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 13_1 like Mac OS X) AppleWebKit/605.1.15", True),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 Safari", False),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 Chrome/80.0", True),
        ("Mozilla/5.0 (X11; Linux) AppleWebKit/537.36 Chrome/66.0.3359.181 Safari", False),
        ("Mozilla/5.0 (X11; Linux) AppleWebKit/537.36 Chrome/67.0.3396.99 Safari", True),
        ("Mozilla/5.0 (Linux; U; Android 8) UCBrowser/12.13.0.1207 Mobile", False),
        ("Mozilla/5.0 (Linux; U; Android 8) UCBrowser/12.13.2.1208 Mobile", True),
        ("curl/8.5.0", True),
    ],
)
def test_samesite_none_compatibility(user_agent: str, compatible: bool) -> None:
    assert samesite_none_compatible(user_agent) is compatible


def test_the_cookie_path_is_the_route_path_and_slash_for_regex_routes() -> None:
    from annotations.affinity import AffinityCookie
    from gateway.proxy.affinity import set_cookie
    from gateway.proxy.request import Peer, RequestHead

    snapshot = compile_objects(
        [
            ingress("plain", rule("a.test", path("/shop", service="app"))),
            ingress(
                "regex",
                rule("b.test", path("/api/v[0-9]+", "ImplementationSpecific", service="app")),
                annotations={N + "use-regex": "true"},
            ),
        ]
    )
    paths = {}
    for route in snapshot.table.routes:
        head = RequestHead("GET", b"/", "1.1", [], keep_alive=True)
        line = set_cookie(AffinityCookie(), "k|t", route, head, Peer("1.2.3.4", 1, 80))
        paths[route.host] = line.decode().split("; ")[1]
    assert paths == {"a.test": "Path=/shop", "b.test": "Path=/"}
