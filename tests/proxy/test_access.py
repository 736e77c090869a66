"""IP access control through a running gateway (issue 7 §5): allow and deny lists of the
Ingress, of its host (MSE `domain-*`) and of the ConfigMap, on the client address."""

from __future__ import annotations

from typing import Any

import pytest

from tests.proxy.harness import cluster, exchange, get, ingress

pytestmark = pytest.mark.asyncio

N = "nginx.ingress.kubernetes.io/"
M = "mse.ingress.kubernetes.io/"
TRUST_XFF = {"use-forwarded-headers": "true"}
"""The test clients all connect from 127.0.0.1; a trusted X-Forwarded-For names the client."""


def _document(port: int, *ingresses: dict[str, Any], config: dict[str, str] | None = None):
    return cluster(ingresses, {"svc": [port]}, {"gateway-config": {**TRUST_XFF, **(config or {})}})


async def _status(gw, client: str, path: str = "/", host: str = "app.test") -> int:
    [resp] = await exchange(gw.port, get(host, path, headers=[("X-Forwarded-For", client)]))
    return resp.status


@pytest.mark.parametrize(
    ("annotations", "config", "client", "status"),
    [
        pytest.param({}, {}, "203.0.113.9", 200, id="no lists"),
        pytest.param({N + "whitelist-source-range": "10.0.0.0/8"}, {}, "10.2.3.4", 200,
                     id="allowed"),
        pytest.param({N + "whitelist-source-range": "10.0.0.0/8"}, {}, "11.2.3.4", 403,
                     id="outside the allow list"),
        pytest.param({N + "allowlist-source-range": "10.0.0.0/8, 2001:db8::/32"}, {},
                     "2001:db8::7", 200, id="IPv6 allowed"),
        pytest.param({N + "denylist-source-range": "10.9.0.0/16"}, {}, "10.9.1.1", 403,
                     id="denied"),
        pytest.param({N + "denylist-source-range": "10.9.0.0/16"}, {}, "10.8.1.1", 200,
                     id="not denied"),
        pytest.param({N + "whitelist-source-range": "10.0.0.0/8",
                      N + "denylist-source-range": "10.9.0.0/16"}, {}, "10.9.1.1", 403,
                     id="deny wins over allow"),
        pytest.param({M + "blacklist-source-range": "10.9.0.0/16"}, {}, "10.9.1.1", 403,
                     id="MSE blacklist"),
        pytest.param({}, {"whitelist-source-range": "10.0.0.0/8"}, "11.0.0.1", 403,
                     id="ConfigMap allow list"),
        pytest.param({N + "whitelist-source-range": "11.0.0.0/8"},
                     {"whitelist-source-range": "10.0.0.0/8"}, "11.0.0.1", 200,
                     id="the Ingress's allow list replaces the ConfigMap's"),
        pytest.param({N + "denylist-source-range": "12.0.0.0/8"},
                     {"whitelist-source-range": "10.0.0.0/8"}, "11.0.0.1", 403,
                     id="a deny list leaves the ConfigMap's allow list in force"),
        pytest.param({}, {"denylist-source-range": "10.9.0.0/16"}, "10.9.0.1", 403,
                     id="ConfigMap deny list"),
        pytest.param({N + "whitelist-source-range": "10.0.0.0/8"}, {"block-cidrs": "10.9.0.0/16"},
                     "10.9.0.1", 403, id="block-cidrs beats an allow list"),
    ],
)  # fmt: skip
async def test_access_rules(
    upstreams, gateway, annotations: dict[str, str], config: dict[str, str], client: str,
    status: int,
) -> None:  # fmt: skip
    up = await upstreams()
    gw = await gateway(_document(up.port, ingress(annotations), config=config))
    assert await _status(gw, client) == status
    assert len(up.requests) == (1 if status == 200 else 0)


async def test_the_peer_is_the_client_without_a_trusted_proxy(upstreams, gateway) -> None:
    up = await upstreams()
    deny_loopback = ingress({N + "denylist-source-range": "127.0.0.0/8"})
    gw = await gateway(_document(up.port, deny_loopback, config={"use-forwarded-headers": "false"}))
    assert await _status(gw, "10.0.0.1") == 403  # X-Forwarded-For is not believed


async def test_block_cidrs_refuses_requests_that_match_no_route(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port, ingress({}), config={"block-cidrs": "10.9.0.0/16"}))
    assert await _status(gw, "10.9.0.1", host="unknown.test") == 403
    assert await _status(gw, "10.8.0.1", host="unknown.test") == 404


async def test_domain_lists_cover_every_route_of_the_host_under_route_lists(
    upstreams, gateway
) -> None:
    up = await upstreams()
    domain = {
        M + "domain-whitelist-source-range": "10.0.0.0/8",
        M + "domain-blacklist-source-range": "10.9.0.0/16",
    }
    ingresses = [
        ingress(name="domain", path="/a", annotations=domain),
        ingress(name="plain", path="/b", annotations={}),
        ingress(
            name="own-allow", path="/c", annotations={N + "whitelist-source-range": "11.0.0.0/8"}
        ),
        ingress(name="other-host", path="/", annotations={}, host="other.test"),
    ]
    gw = await gateway(_document(up.port, *ingresses))
    assert [await _status(gw, "11.0.0.1", p) for p in ("/a", "/b", "/c")] == [403, 403, 200]
    assert [await _status(gw, "10.9.0.1", p) for p in ("/a", "/b", "/c")] == [403, 403, 403]
    assert await _status(gw, "10.1.0.1", "/b") == 200
    assert await _status(gw, "11.0.0.1", host="other.test") == 200


async def test_an_invalid_list_keeps_the_last_accepted_lists(upstreams, gateway) -> None:
    up = await upstreams()
    closed = ingress({N + "whitelist-source-range": "10.0.0.0/8"})
    gw = await gateway(_document(up.port, closed))
    typo = ingress({N + "whitelist-source-range": "10.0.0.0/88"})
    await gw.update(_document(up.port, typo))
    assert await _status(gw, "11.0.0.1") == 403
    [problem] = [p for p in gw.gateway.holder.current.problems if p.severity == "error"]
    assert problem.field == f"metadata.annotations[{N}whitelist-source-range]"


async def test_a_refused_request_is_logged_with_the_forwarded_client(upstreams, gateway) -> None:
    up = await upstreams()
    closed = ingress({N + "whitelist-source-range": "10.0.0.0/8"})
    gw = await gateway(_document(up.port, closed))
    assert await _status(gw, "11.0.0.1") == 403
    entry = gw.access_log()[-1]
    assert (entry["status"], entry["remote_addr"]) == (403, "11.0.0.1")


async def test_the_oldest_ingress_gives_its_host_the_domain_lists(upstreams, gateway) -> None:
    up = await upstreams()
    older = ingress(
        name="older", path="/a", annotations={M + "domain-blacklist-source-range": "10.1.0.0/16"}
    )
    newer = ingress(
        name="newer", path="/b", annotations={M + "domain-blacklist-source-range": "10.2.0.0/16"}
    )
    older["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    newer["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z"
    gw = await gateway(_document(up.port, newer, older))
    assert [await _status(gw, "10.1.0.1", p) for p in ("/a", "/b")] == [403, 403]
    assert [await _status(gw, "10.2.0.1", p) for p in ("/a", "/b")] == [200, 200]
