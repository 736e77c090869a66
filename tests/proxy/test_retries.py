"""Per-Ingress retries through a running gateway: each nginx rule, including those that must
not retry (issue 6 group 4)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.objects import ingress, path, rule
from tests.proxy.harness import Recorded, cluster, exchange, get, response

N = "nginx.ingress.kubernetes.io/"
HOST = "retry.test"


def document(annotations: dict[str, str], ports: list[int]) -> dict[str, Any]:
    """Passive health is off, so that a failing pod keeps its turn and each rule shows alone."""
    return cluster(
        [ingress("app", rule(HOST, path("/", service="app")), annotations=annotations)],
        {"app": ports},
        {"gateway-config": {"upstream-max-fails": "0"}},
    )


async def busy(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(response(503, b"busy"))


async def reset(request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


async def slow_reset(request: Recorded, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(0.6)
    writer.transport.abort()


async def statuses(gw, requests: list[bytes]) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """(status, upstream_status) of each request, each on its own connection."""
    out = []
    for request in requests:
        [resp] = await exchange(gw.port, request)
        out.append((resp.status, gw.access_log()[-1]["upstream_status"]))
    return out


async def test_listed_status_moves_to_the_next_pod(upstreams, gateway) -> None:
    bad, good = await upstreams(busy), await upstreams()
    ports = [bad.port, good.port]
    gw = await gateway(document({N + "proxy-next-upstream": "error timeout http_503"}, ports))
    seen = await statuses(gw, [get(HOST, f"/{i}") for i in range(4)])
    assert {s for s, _ in seen} == {200}
    assert ("200", "503, 200") in {(str(s), u) for s, u in seen}  # the 503 was dropped
    assert len(bad.requests) >= 3  # every try it got was answered by the other pod
    # Not listed (the ConfigMap's default `error timeout`): the 503 reaches the client.
    await gw.update(document({}, ports))
    seen = await statuses(gw, [get(HOST, f"/{i}") for i in range(4)])
    assert sorted(s for s, _ in seen) == [200, 200, 503, 503]


async def test_the_last_try_passes_its_answer_through(upstreams, gateway) -> None:
    ups = [await upstreams(busy) for _ in range(2)]
    gw = await gateway(document({N + "proxy-next-upstream": "http_503"}, [u.port for u in ups]))
    [(status, tries)] = await statuses(gw, [get(HOST)])
    assert (status, tries) == (503, "503, 503")


async def test_non_idempotent_methods_need_non_idempotent(upstreams, gateway) -> None:
    bad, good = await upstreams(busy), await upstreams()
    ports = [bad.port, good.port]
    gw = await gateway(document({N + "proxy-next-upstream": "http_503"}, ports))
    posts = [get(HOST, method="POST", body=b"order") for _ in range(4)]
    assert sorted(s for s, _ in await statuses(gw, posts)) == [200, 200, 503, 503]
    await gw.update(document({N + "proxy-next-upstream": "http_503 non_idempotent"}, ports))
    assert {s for s, _ in await statuses(gw, posts)} == {200}
    assert all(r.body == b"order" for r in good.requests)  # the replay carried the body


async def test_a_body_too_large_to_keep_is_never_sent_twice(upstreams, gateway) -> None:
    bad, good = await upstreams(busy), await upstreams()
    ports = [bad.port, good.port]
    gw = await gateway(document({N + "proxy-next-upstream": "http_503"}, ports))
    small = [get(HOST, method="PUT", body=b"s" * 1000) for _ in range(4)]
    assert {s for s, _ in await statuses(gw, small)} == {200}
    large = [get(HOST, method="PUT", body=b"L" * 200_000) for _ in range(4)]
    seen = await statuses(gw, large)
    assert sorted(s for s, _ in seen) == [200, 200, 503, 503]
    assert all("," not in tries for _, tries in seen)


async def test_tries_count_the_first_one(upstreams, gateway) -> None:
    ups = [await upstreams(reset) for _ in range(3)]
    ports = [u.port for u in ups]
    gw = await gateway(document({N + "proxy-next-upstream-tries": "2"}, ports))
    assert await statuses(gw, [get(HOST)]) == [(502, "502, 502")]
    await gw.update(document({N + "proxy-next-upstream-tries": "0"}, ports))  # one per pod
    assert await statuses(gw, [get(HOST)]) == [(502, "502, 502, 502")]
    await gw.update(document({N + "proxy-next-upstream": "off"}, ports))
    assert await statuses(gw, [get(HOST)]) == [(502, "502")]


async def test_no_try_starts_after_the_timeout(upstreams, gateway) -> None:
    ups = [await upstreams(slow_reset) for _ in range(3)]
    ports = [u.port for u in ups]
    gw = await gateway(document({N + "proxy-next-upstream-timeout": "1"}, ports))
    # Tries fail after 0.6 s each: the second starts at 0.6 s, a third would start at 1.2 s.
    assert await statuses(gw, [get(HOST)]) == [(502, "502, 502")]
    await gw.update(document({}, ports))
    assert await statuses(gw, [get(HOST)]) == [(502, "502, 502, 502")]


async def test_nothing_is_retried_once_the_client_has_a_byte(upstreams, gateway) -> None:
    async def cut(request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        await writer.drain()
        writer.transport.abort()

    ups = [await upstreams(cut), await upstreams(cut)]
    annotations = {N + "proxy-next-upstream": "error timeout invalid_header http_502"}
    gw = await gateway(document(annotations, [u.port for u in ups]))
    [resp] = await exchange(gw.port, get(HOST))
    assert (resp.status, resp.body, resp.complete) == (200, b"part", False)
    assert sum(len(u.requests) for u in ups) == 1


def test_route_settings_override_the_configmap_one_by_one() -> None:
    from annotations.retries import Retries
    from gateway.proxy.retries import TryBudget
    from routing.globals import GlobalConfig

    config = GlobalConfig(proxy_next_upstream_tries=5, proxy_next_upstream_timeout=2.0)
    budget = TryBudget(None, config, endpoints=10, now=100.0)
    assert (budget.tries, budget.deadline, budget.conditions) == (
        5,
        102.0,
        config.proxy_next_upstream,
    )
    own = Retries(conditions=frozenset({"http_502", "http_429"}), tries=0)
    budget = TryBudget(own, config, endpoints=4, now=100.0)
    assert (budget.tries, budget.deadline, budget.statuses) == (4, 102.0, frozenset({502, 429}))
    assert budget.another_try(101.9) and not budget.another_try(102.0)
