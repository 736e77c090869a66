"""The admin server: health, readiness, routes document and Prometheus metrics, checked with
Prometheus's own tools (promtool, and a real Prometheus server scraping the gateway)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.settings import RunSettings
from tests.proxy.harness import exchange, get, manifests
from tests.proxy.process import free_port, http_get

pytestmark = pytest.mark.asyncio


async def _get(url: str) -> tuple[int, bytes]:
    return await asyncio.to_thread(http_get, url)


async def test_not_ready_before_the_first_snapshot(tmp_path: Path, upstreams) -> None:
    up = await upstreams()
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "c.json").write_text(json.dumps(manifests([("app.test", "/", "Prefix", [up.port])])))
    gateway = Gateway(
        RunSettings(
            manifests=str(folder),
            listen=("127.0.0.1", 0),
            listen_tls=("127.0.0.1", 0),
            admin=("127.0.0.1", 0),
            shutdown_delay=0,
            shutdown_timeout=1,
        )
    )
    await gateway.start()
    try:
        admin = f"http://127.0.0.1:{gateway.ports['admin']}"
        assert (await _get(admin + "/healthz"))[0] == 200
        assert (await _get(admin + "/readyz"))[0] == 503
        assert (await _get(admin + "/debug/routes"))[0] == 503
        [early] = await exchange(gateway.ports["http"], get("app.test"))
        assert early.status == 503
        async with asyncio.timeout(5):
            while (await _get(admin + "/readyz"))[0] != 200:
                await asyncio.sleep(0.05)
    finally:
        await gateway.stop()


async def test_debug_routes_document_and_generations(upstreams, gateway) -> None:
    a, b = await upstreams(), await upstreams()
    gw = await gateway(manifests([("app.test", "/api", "Prefix", [a.port])]))
    status, body = await _get(f"http://127.0.0.1:{gw.admin_port}/debug/routes")
    document = json.loads(body)
    assert status == 200 and document["generation"] == 1
    [route] = document["routes"]
    assert route["host"] == "app.test" and route["match"] == "prefix"
    assert route["endpoints"] == [f"127.0.0.1:{a.port}"]
    await gw.update(manifests([("app.test", "/api", "Prefix", [b.port])]))
    document = json.loads((await _get(f"http://127.0.0.1:{gw.admin_port}/debug/routes"))[1])
    assert document["generation"] == 2
    assert document["routes"][0]["endpoints"] == [f"127.0.0.1:{b.port}"]


async def test_metrics_count_requests_and_pass_promtool(upstreams, gateway, tmp_path: Path) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    for _ in range(3):
        await exchange(gw.port, get("app.test", "/x"))
    await exchange(gw.port, get("nowhere.test"))
    await exchange(gw.port, b"GET / HTTP/1.1\r\n\r\n")
    for method in (b"DELETE", b"PROPFIND", b"PURGE"):  # the last two are counted as OTHER
        await exchange(gw.port, method + b" /x HTTP/1.1\r\nHost: app.test\r\n\r\n")
    status, body = await _get(f"http://127.0.0.1:{gw.admin_port}/metrics")
    text = body.decode()
    assert status == 200
    assert (
        'gateway_requests_total{ingress="ing0",method="GET",namespace="default",'
        'service="svc0",status="200"} 3.0'
    ) in text
    assert 'status="404"} 1.0' in text and 'status="400"} 1.0' in text
    for method, count in (("DELETE", 1), ("OTHER", 2)):
        assert (
            f'gateway_requests_total{{ingress="ing0",method="{method}",namespace="default",'
            f'service="svc0",status="200"}} {count:.1f}'
        ) in text
    assert 'gateway_upstream_connections_total{event="opened"} 1.0' in text
    assert 'gateway_upstream_connections_total{event="reused"} 5.0' in text
    assert "gateway_config_last_reload_successful 1.0" in text
    assert 'gateway_backend_endpoints{backend="default/svc0:80"} 1.0' in text
    assert "gateway_request_duration_seconds_bucket" in text
    assert "gateway_connections_total 8.0" in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by scripts/setup (Debian package prometheus)"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


async def test_request_counts_carry_on_across_snapshot_swaps(upstreams, gateway) -> None:
    """A request's counts are found by the route object that answered it. A new snapshot
    brings new route objects with the same names: their requests add to the same series,
    and the histograms put each observation in its bucket."""
    from prometheus_client.parser import text_string_to_metric_families

    a, b = await upstreams(), await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [a.port])]))
    await exchange(gw.port, get("app.test"))
    await gw.update(manifests([("app.test", "/", "Prefix", [b.port])]))
    for _ in range(2):
        await exchange(gw.port, get("app.test"))
    assert (len(a.requests), len(b.requests)) == (1, 2)  # the swap took effect
    text = (await _get(f"http://127.0.0.1:{gw.admin_port}/metrics"))[1].decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    route = (("ingress", "ing0"), ("namespace", "default"), ("service", "svc0"))
    answered = tuple(sorted((*route, ("method", "GET"), ("status", "200"))))
    assert samples[("gateway_requests_total", answered)] == 3.0
    bucket = "gateway_request_size_bytes_bucket"
    assert samples[(bucket, tuple(sorted((*route, ("le", "64.0")))))] == 3.0  # no body
    assert samples[("gateway_request_size_bytes_count", route)] == 3.0
    duration = "gateway_request_duration_seconds_bucket"
    assert samples[(duration, tuple(sorted((*route, ("le", "+Inf")))))] == 3.0


async def test_a_real_prometheus_scrapes_the_gateway(upstreams, gateway, tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is installed by scripts/setup (Debian package prometheus)"
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    await exchange(gw.port, get("app.test"))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: gateway\n    static_configs: [{{targets: ['127.0.0.1:{gw.admin_port}']}}]\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        query = (
            f"http://127.0.0.1:{port}/api/v1/query?query="
            "gateway_requests_total%7Bingress%3D%22ing0%22%7D"
        )
        deadline = time.monotonic() + 40
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline and not result:
            await asyncio.sleep(0.5)
            try:
                status, body = await _get(query)
            except OSError:
                continue
            if status == 200:
                result = json.loads(body)["data"]["result"]
        assert result, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert result[0]["metric"]["service"] == "svc0"  # type: ignore[index]
        assert float(result[0]["value"][1]) >= 1  # type: ignore[index]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


async def test_access_log_lines_have_the_documented_keys(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    await exchange(gw.port, get("app.test", "/p?q=1", headers=[("X-Request-ID", "rid-1")]))
    [line] = gw.access_log()
    assert set(line) == {
        "time",
        "remote_addr",
        "method",
        "host",
        "path",
        "status",
        "bytes_sent",
        "request_time",
        "upstream_addr",
        "upstream_status",
        "upstream_response_time",
        "request_id",
        "namespace",
        "ingress",
        "service",
        "pid",
    }
    assert (line["path"], line["status"], line["request_id"]) == ("/p", 200, "rid-1")
    assert line["upstream_addr"] == f"127.0.0.1:{up.port}" and line["ingress"] == "ing0"


async def test_access_log_can_be_switched_off(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(
        manifests(
            [("app.test", "/", "Prefix", [up.port])], configmap={"disable-access-log": "true"}
        )
    )
    await exchange(gw.port, get("app.test"))
    assert gw.access_log() == []


@pytest.mark.parametrize(
    ("path", "request_id", "forwarded_for"),
    [
        ('/q"uote\\', 'id"\\', '"evil\\'),
        ('/q"uote\\', "plain-id", "10.0.0.1"),  # one value needs escaping, the others not
        ("/plain", 'id"\\', "10.0.0.1"),
        ("/plain", "plain-id", '"evil\\'),
    ],
)
async def test_access_log_escapes_client_controlled_values(
    upstreams, gateway, path: str, request_id: str, forwarded_for: str
) -> None:
    up = await upstreams()
    config = {"use-forwarded-headers": "true", "proxy-real-ip-cidr": "127.0.0.1/32"}
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])], configmap=config))
    await exchange(
        gw.port,
        get(
            "app.test",
            path,
            headers=[("X-Request-ID", request_id), ("X-Forwarded-For", forwarded_for)],
        ),
    )
    [line] = gw.access_log()  # parses as JSON
    assert (line["path"], line["request_id"]) == (path, request_id)
    assert line["remote_addr"] == forwarded_for


async def test_malformed_requests_are_logged_too(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(manifests([("app.test", "/", "Prefix", [up.port])]))
    await exchange(gw.port, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n")
    [line] = gw.access_log()
    assert (line["status"], line["remote_addr"], line["method"]) == (400, "127.0.0.1", "")
