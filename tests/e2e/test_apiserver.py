"""The control plane against a real kube-apiserver and etcd on loopback (issue #4).

The gateway runs as a process, started as a user starts it, with the ServiceAccount token that
deploy/rbac.yaml binds: the RBAC is proven sufficient by the gateway working at all. What the
gateway compiled is read from /debug/routes (traffic to pods in network namespaces is a further
step: the API server refuses loopback endpoint addresses).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import pod_server
from tests.e2e.apiserver import ROOT, ApiServer, free_port
from tests.e2e.pods import Pod, can_make_pods
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


class Gateways:
    """Gateway processes against the test API server, each with its own log file; all stopped
    by PID at teardown. Each test gets its own election Lease, so a leader a test killed never
    delays the next test's gateways."""

    def __init__(self, apiserver: ApiServer, folder: Path, lease: str) -> None:
        self.apiserver = apiserver
        self.folder = folder
        self.lease = lease
        self.procs: list[subprocess.Popen[bytes]] = []
        self.admins: list[int] = []

    def __call__(
        self, *extra: str, kubeconfig: Path | None = None, wait: bool = True
    ) -> tuple[int, int]:
        """Start one (and wait until it is ready); its (HTTP port, admin port)."""
        port, admin = free_port(), free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GATEWAY_") and k not in ("KUBECONFIG", "POD_NAME")
        }
        log_path = self.log_path(len(self.procs))
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [
                GATEWAY,
                "run",
                "--kubeconfig",
                str(kubeconfig or self.apiserver.gateway_kubeconfig),
                "--listen",
                f"127.0.0.1:{port}",
                "--listen-tls",
                "127.0.0.1:0",
                "--admin",
                f"127.0.0.1:{admin}",
                "--shutdown-delay",
                "0",
                "--election-namespace",
                "ingress-gateway",
                "--election-id",
                self.lease,
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        self.procs.append(proc)
        self.admins.append(admin)
        if wait:
            wait_ready(f"http://127.0.0.1:{admin}", proc, 30, log_path.read_text)
        return port, admin

    def log_path(self, index: int) -> Path:
        return self.folder / f"gateway{index}.log"

    def log(self, index: int) -> str:
        return self.log_path(index).read_text()

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(15)


@pytest.fixture
def gateway(apiserver: ApiServer, tmp_path: Path) -> Iterator[Gateways]:
    lease = "lease-" + re.sub(r"[^a-z0-9]+", "-", tmp_path.name.lower())[-50:].strip("-")
    gateways = Gateways(apiserver, tmp_path, lease)
    yield gateways
    gateways.stop()


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


@pytest.fixture
def pods() -> Iterator[Callable[[str], Pod]]:
    """Pods in network namespaces (root only), removed after the test."""
    if not can_make_pods():
        pytest.skip("pods in network namespaces need root and iproute2")
    started: list[Pod] = []

    def make(name: str) -> Pod:
        started.append(Pod(name))
        return started[-1].start()

    yield make
    for pod in started:
        pod.stop()


def _get(port: int, host: str, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def _until(check: Callable[[], bool], timeout: float = 10) -> float:
    """Seconds until `check()` holds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout}s")


def test_traffic_reaches_pods_and_follows_every_kind_of_change_within_a_second(
    apiserver, namespace, gateway, pods
) -> None:
    """Real pods behind real Endpoints, through the gateway running with the deploy RBAC.
    Changes of an Ingress path, of the Endpoints (another pod) and of a Service port (a port
    name that maps to the pods' second port) are each timed until traffic shows them."""
    pod_a, pod_b = pods("pod-a"), pods("pod-b")
    services = f"/api/v1/namespaces/{namespace}/services"
    endpoints = f"/api/v1/namespaces/{namespace}/endpoints"
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"

    def set_endpoints(pod: Pod) -> None:
        apiserver.apply(
            endpoints,
            {
                "metadata": {"name": "web"},
                "subsets": [
                    {
                        "addresses": [{"ip": pod.ip}],
                        "ports": [{"name": "http", "port": 8080}, {"name": "alt", "port": 8081}],
                    }
                ],
            },
        )

    def set_service_port_name(name: str) -> None:
        apiserver.request(
            "PATCH",
            f"{services}/web",
            {"spec": {"ports": [{"name": name, "port": 80, "targetPort": 8080}]}},
            content_type="application/strategic-merge-patch+json",
        )

    set_endpoints(pod_a)
    apiserver.apply(ingresses, _ingress("web", "/v0"))
    port, _ = gateway()
    _until(lambda: _get(port, "web.test", "/v0") == (200, b"pod-a"))

    def answers(path: str, body: bytes | None = None) -> Callable[[], bool]:
        def check() -> bool:
            status, got = _get(port, "web.test", path)
            return status == 200 and body in (None, got)

        return check

    delays: dict[str, list[float]] = {"Ingress": [], "Endpoints": [], "Service": []}
    for round_ in range(1, 4):
        path, pod = f"/v{round_}", (pod_b if round_ % 2 else pod_a)
        apiserver.apply(ingresses, _ingress("web", path))
        delays["Ingress"].append(_until(answers(path)))
        set_endpoints(pod)
        delays["Endpoints"].append(_until(answers(path, pod.name.encode())))
        set_service_port_name("alt")
        delays["Service"].append(_until(answers(path, f"{pod.name}:8081".encode())))
        set_service_port_name("http")
        _until(answers(path, pod.name.encode()))
    for kind, seconds in delays.items():
        print(f"{kind} change to traffic (s): {sorted(round(s, 3) for s in seconds)}")
    assert max(max(seconds) for seconds in delays.values()) < 1.0


def test_not_ready_and_answering_503_until_every_kind_is_listed(
    apiserver, namespace, gateway
) -> None:
    """A user with no rights yet: every list is refused, so the gateway listens but is not
    ready and answers 503; once the deploy ClusterRole is bound it syncs and becomes ready."""
    binding = f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/limited-{namespace}"
    port, admin = gateway(kubeconfig=apiserver.limited_kubeconfig, wait=False)
    wait_until = time.monotonic() + 3
    statuses: set[int] = set()
    while time.monotonic() < wait_until:
        try:
            statuses.add(http_get(f"http://127.0.0.1:{admin}/readyz")[0])
            statuses.add(_get(port, "web.test")[0])
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    assert statuses == {503}
    assert "forbidden" in gateway.log(0).lower()
    apiserver.request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": binding.rsplit("/", 1)[1]},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "ingress-gateway",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "limited"}
            ],
        },
    )
    try:
        wait_ready(f"http://127.0.0.1:{admin}", gateway.procs[0], 30, lambda: gateway.log(0))
    finally:
        apiserver.request("DELETE", binding)


def _is_leader(admin: int) -> bool:
    return "gateway_leader 1.0" in http_get(f"http://127.0.0.1:{admin}/metrics")[1].decode()


def test_two_replicas_elect_one_leader_which_alone_writes_status(
    apiserver, namespace, gateway
) -> None:
    """Status comes from the --publish-service LoadBalancer; only the leader writes it; when the
    leader is killed the other replica takes over within the lease duration; an Ingress that
    stops being ours is cleared."""
    services = "/api/v1/namespaces/ingress-gateway/services"
    front = f"front-{namespace}"
    apiserver.apply(
        services,
        {"metadata": {"name": front}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    apiserver.request(
        "PATCH",
        f"{services}/{front}/status",
        {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}},
        content_type="application/merge-patch+json",
    )
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    apiserver.apply(ingresses, _ingress("web", "/"))
    ttl = 4
    flags = ("--publish-service", f"ingress-gateway/{front}", "--election-ttl", str(ttl))
    gateway(*flags)
    gateway(*flags)

    def status(name: str) -> Any:
        reply = apiserver.request("GET", f"{ingresses}/{name}")
        return (reply.get("status") or {}).get("loadBalancer", {}).get("ingress")

    published = [{"ip": "203.0.113.7"}]
    _until(lambda: status("web") == published, 15)
    leaders = [i for i, admin in enumerate(gateway.admins) if _is_leader(admin)]
    assert len(leaders) == 1
    leader, follower = leaders[0], 1 - leaders[0]
    assert "status set to 203.0.113.7" in gateway.log(leader)
    assert "status set to" not in gateway.log(follower)
    lease = apiserver.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/ingress-gateway/leases/{gateway.lease}"
    )
    assert lease["spec"]["holderIdentity"].endswith(f"-{gateway.procs[leader].pid}")

    gateway.procs[leader].kill()
    killed = time.monotonic()
    apiserver.apply(ingresses, _ingress("second", "/"))
    _until(lambda: status("second") == published, 20)
    took_over = time.monotonic() - killed
    print(f"new leader wrote status {took_over:.2f}s after the leader was killed (ttl {ttl}s)")
    assert _is_leader(gateway.admins[follower])
    assert took_over < ttl + 3  # the lease duration, a retry period and the write

    not_ours = _ingress("web", "/")
    not_ours["spec"]["ingressClassName"] = "someone-else"
    apiserver.apply(ingresses, not_ours)
    _until(lambda: not status("web"), 10)
    assert status("second") == published

    gateway.procs[follower].send_signal(signal.SIGTERM)  # a leader that stops releases the Lease
    assert gateway.procs[follower].wait(15) == 0
    lease = apiserver.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/ingress-gateway/leases/{gateway.lease}"
    )
    assert lease["spec"].get("holderIdentity", "") == ""


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


def test_global_settings_from_the_ingress_class_parameters_configmap(
    apiserver, namespace, gateway
) -> None:
    """Without --configmap, our IngressClass's spec.parameters names the settings ConfigMap
    (in the gateway's own namespace: a 1.20 server has no parameters.namespace); a change of
    its data is live at once."""
    classes = "/apis/networking.k8s.io/v1/ingressclasses"
    configmaps = "/api/v1/namespaces/ingress-gateway/configmaps"
    name = f"settings-{namespace}"
    apiserver.apply(configmaps, {"metadata": {"name": name}, "data": {"proxy-read-timeout": "7"}})
    apiserver.request(
        "PATCH",
        f"{classes}/gateway",
        {"spec": {"parameters": {"kind": "ConfigMap", "name": name}}},
        content_type="application/merge-patch+json",
    )
    try:
        _, admin = gateway()
        _wait_for(admin, lambda d: d["settings"] == {"proxy-read-timeout": 7.0})
        apiserver.apply(
            configmaps, {"metadata": {"name": name}, "data": {"proxy-read-timeout": "8"}}
        )
        seconds = _wait_for(admin, lambda d: d["settings"] == {"proxy-read-timeout": 8.0})
        print(f"ConfigMap change live in {seconds:.3f}s")
        assert seconds < 1.0
    finally:
        apiserver.request(
            "PATCH",
            f"{classes}/gateway",
            {"spec": {"parameters": None}},
            content_type="application/merge-patch+json",
        )


def test_a_compacted_resource_version_is_recovered_by_relisting(
    apiserver, namespace, gateway
) -> None:
    """While the gateway's API server is down, the cluster changes through a second API server
    on the same etcd and etcd's history is compacted: the gateway's resourceVersion no longer
    exists when its API server returns. The watch gets 410 Gone, the gateway relists, and the
    Ingress deleted meanwhile is gone from its routes. (Restarts the module's API server.)"""
    ingresses = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    apiserver.apply(ingresses, _ingress("before", "/"))
    _, admin = gateway()

    def mine(doc: dict[str, Any]) -> set[str]:
        return {r["ingress"] for r in doc["routes"] if r["namespace"] == namespace}

    _wait_for(admin, lambda d: mine(d) == {"before"})
    peer = apiserver.start_peer()
    try:
        apiserver.kill_apiserver()
        peer.request("DELETE", f"{ingresses}/before")
        peer.apply(ingresses, _ingress("during", "/"))
        apiserver.compact_etcd()
        apiserver.restart_apiserver()
    finally:
        peer.stop()
    _wait_for(admin, lambda d: mine(d) == {"during"}, 40)
    assert "Ingress: resourceVersion" in gateway.log(0)
    assert "expired, relisting" in gateway.log(0)


def test_api_server_outage_keeps_serving_and_later_changes_apply(
    apiserver, namespace, gateway
) -> None:
    """Runs last: it restarts the module's API server. An ExternalName Service naming `localhost`
    gives real traffic to a loopback upstream (the API server refuses loopback Endpoints)."""
    upstream = pod_server.serve("127.0.0.1", 0, b"pod says hi")
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
