"""The control plane against a real kube-apiserver and etcd on loopback (issue #4).

The gateway runs as a process, started as a user starts it, with the ServiceAccount token that
deploy/rbac.yaml binds: the RBAC is proven sufficient by the gateway working at all. What the
gateway compiled is read from /debug/routes (traffic to pods in network namespaces is a further
step: the API server refuses loopback endpoint addresses).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.apiserver import ROOT, ApiServer, free_port
from tests.proxy.process import GATEWAY, http_get, wait_ready

RBAC_PATHS = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path_factory.mktemp("apiserver")).start()
    try:
        server.request("POST", "/api/v1/namespaces", {"metadata": {"name": "ingress-gateway"}})
        for obj in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()):
            path = RBAC_PATHS[obj["kind"]].format(ns=obj["metadata"].get("namespace", ""))
            server.apply(path, obj)
        server.apply(
            "/apis/networking.k8s.io/v1/ingressclasses",
            {
                "metadata": {"name": "gateway"},
                "spec": {"controller": "ingress-gateway.dev/controller"},
            },
        )
        yield server
    finally:
        server.stop()


def _ingress(name: str, path: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    return {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "ingressClassName": "gateway",
            "rules": [
                {
                    "host": f"{name}.test",
                    "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }


def _endpoints(ip: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "http", "port": 8080}]}],
    }


@pytest.fixture
def namespace(apiserver: ApiServer, request: pytest.FixtureRequest) -> str:
    """A fresh namespace per test (deleted namespaces never finish terminating here)."""
    name = f"t{abs(hash(request.node.name)) % 10**8}-{int(time.time() * 1000) % 10**6}"
    apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    apiserver.apply(
        f"/api/v1/namespaces/{name}/services",
        {
            "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
    )
    apiserver.apply(f"/api/v1/namespaces/{name}/endpoints", _endpoints("10.11.0.5"))
    return name


@pytest.fixture
def gateway(apiserver: ApiServer, tmp_path: Path) -> Iterator[Callable[..., tuple[int, int]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> tuple[int, int]:
        port, admin = free_port(), free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GATEWAY_") and k != "KUBECONFIG"
        }
        log = (tmp_path / f"gateway{len(procs)}.log").open("wb")
        proc = subprocess.Popen(
            [
                GATEWAY,
                "run",
                "--kubeconfig",
                str(apiserver.gateway_kubeconfig),
                "--listen",
                f"127.0.0.1:{port}",
                "--admin",
                f"127.0.0.1:{admin}",
                "--shutdown-delay",
                "0",
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        procs.append(proc)
        wait_ready(
            f"http://127.0.0.1:{admin}",
            proc,
            30,
            (tmp_path / f"gateway{len(procs) - 1}.log").read_text,
        )
        return port, admin

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def _routes(admin: int) -> dict[str, Any]:
    return json.loads(http_get(f"http://127.0.0.1:{admin}/debug/routes")[1])


def _wait_for(admin: int, check: Callable[[dict[str, Any]], bool], timeout: float = 10) -> float:
    """Seconds until /debug/routes satisfies `check`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check(_routes(admin)):
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {json.dumps(_routes(admin))[:2000]}")


def test_serves_ingresses_from_the_api_server_with_the_deploy_rbac(
    apiserver, namespace, gateway
) -> None:
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    apiserver.apply(ingresses, _ingress("web", "/api"))
    _, admin = gateway()

    def route(doc: dict[str, Any]) -> dict[str, Any] | None:
        return next((r for r in doc["routes"] if r["namespace"] == namespace), None)

    _wait_for(admin, lambda d: route(d) is not None)
    first = route(_routes(admin))
    assert first is not None
    assert (first["host"], first["path"], first["endpoints"]) == (
        "web.test",
        "/api",
        ["10.11.0.5:8080"],
    )

    delays = []
    apiserver.apply(ingresses, _ingress("web", "/v2"))
    delays.append(_wait_for(admin, lambda d: (route(d) or {}).get("path") == "/v2"))
    apiserver.apply(f"/api/v1/namespaces/{namespace}/endpoints", _endpoints("10.11.0.6"))
    delays.append(
        _wait_for(admin, lambda d: (route(d) or {}).get("endpoints") == ["10.11.0.6:8080"])
    )
    apiserver.apply(
        f"/api/v1/namespaces/{namespace}/services",
        {
            "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 81, "targetPort": 8080}]},
        },
    )
    delays.append(_wait_for(admin, lambda d: (route(d) or {}).get("endpoints") == []))
    print(f"change-to-live delays (s): {[round(d, 3) for d in delays]}")
    assert max(delays) < 1.5


def test_a_bad_annotation_refuses_only_its_ingress(apiserver, namespace, gateway) -> None:
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    apiserver.apply(ingresses, _ingress("good", "/"))
    apiserver.apply(
        ingresses, _ingress("bad", "/", {"nginx.ingress.kubernetes.io/use-regex": "perhaps"})
    )
    _, admin = gateway()
    _wait_for(
        admin,
        lambda d: any(p["name"] == "bad" and p["namespace"] == namespace for p in d["problems"]),
    )
    mine = [r for r in _routes(admin)["routes"] if r["namespace"] == namespace]
    assert [r["ingress"] for r in mine] == ["good"]
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not events:
        events = [
            e
            for e in apiserver.request("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
            if e["involvedObject"]["name"] == "bad"
        ]
        time.sleep(0.1)
    [event] = events
    assert (event["reason"], event["type"]) == ("InvalidAnnotation", "Warning")
    assert "use-regex" in event["message"] and event["involvedObject"]["kind"] == "Ingress"
    assert (
        'gateway_events_total{reason="InvalidAnnotation"}'
        in http_get(f"http://127.0.0.1:{admin}/metrics")[1].decode()
    )


def test_deleting_an_ingress_removes_its_routes(apiserver, namespace, gateway) -> None:
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    apiserver.apply(ingresses, _ingress("gone", "/"))
    _, admin = gateway()
    _wait_for(admin, lambda d: any(r["namespace"] == namespace for r in d["routes"]))
    apiserver.request("DELETE", f"{ingresses}/gone")
    _wait_for(admin, lambda d: not any(r["namespace"] == namespace for r in d["routes"]))


def test_large_objects_arrive_through_the_watch(apiserver, namespace, gateway) -> None:
    """A watch event is one JSON line: a 200 KB one (near the API server's annotation limit)
    must arrive like any other. Guards the line reading of gateway.control.kube."""
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    _, admin = gateway()
    apiserver.apply(ingresses, _ingress("big", "/", {"example.com/blob": "x" * 200_000}))
    _wait_for(
        admin,
        lambda d: any(r["ingress"] == "big" and r["namespace"] == namespace for r in d["routes"]),
    )


def test_deploy_manifests_pass_a_server_side_dry_run(apiserver) -> None:
    result = subprocess.run(
        [
            "kubectl",
            f"--kubeconfig={apiserver.admin_kubeconfig}",
            "apply",
            "--dry-run=server",
            "-f",
            str(ROOT / "deploy"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployment.apps/ingress-gateway" in result.stdout


class _Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"pod says hi"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_api_server_outage_keeps_serving_and_later_changes_apply(
    apiserver, namespace, gateway
) -> None:
    """Runs last: it restarts the module's API server. An ExternalName Service naming `localhost`
    gives real traffic to a loopback upstream (the API server refuses loopback Endpoints)."""
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = upstream.server_address[1]
    apiserver.apply(
        f"/api/v1/namespaces/{namespace}/services",
        {
            "metadata": {"name": "ext"},
            "spec": {
                "type": "ExternalName",
                "externalName": "localhost",
                "ports": [{"port": port}],
            },
        },
    )
    ingress = _ingress("ext", "/")
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "service": {"name": "ext", "port": {"number": port}}
    }
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    apiserver.apply(ingresses, ingress)
    http_port, admin = gateway()
    _wait_for(admin, lambda d: any(r["ingress"] == "ext" for r in d["routes"]))

    failures: list[str] = []
    served = [0]
    stop = threading.Event()

    def traffic() -> None:
        deadline = time.monotonic() + 60  # bounded even if the test fails midway
        while not stop.is_set() and time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
            try:
                conn.request("GET", "/", headers={"Host": "ext.test"})
                reply = conn.getresponse()
                if reply.status != 200 or reply.read() != b"pod says hi":
                    failures.append(str(reply.status))
                served[0] += 1
            except OSError as err:
                failures.append(repr(err))
            finally:
                conn.close()
            time.sleep(0.01)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(0.5)
        apiserver.kill_apiserver()
        deadline = time.monotonic() + 15
        while (
            time.monotonic() < deadline
            and 'gateway_api_connected{kind="Ingress"} 0.0'
            not in http_get(f"http://127.0.0.1:{admin}/metrics")[1].decode()
        ):
            time.sleep(0.1)
        metrics = http_get(f"http://127.0.0.1:{admin}/metrics")[1].decode()
        assert 'gateway_api_connected{kind="Ingress"} 0.0' in metrics
        assert http_get(f"http://127.0.0.1:{admin}/readyz")[0] == 200  # the last good table serves
        apiserver.restart_apiserver()
        apiserver.apply(
            ingresses,
            {
                **ingress,
                "metadata": {"name": "ext-after"},
                "spec": {
                    **ingress["spec"],
                    "rules": [{**ingress["spec"]["rules"][0], "host": "after.test"}],
                },
            },
        )
        _wait_for(admin, lambda d: any(r["host"] == "after.test" for r in d["routes"]), 40)
    finally:
        stop.set()
        thread.join(10)
        upstream.shutdown()
        upstream.server_close()
    assert failures == []
    assert served[0] > 20
