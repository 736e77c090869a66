"""A real etcd and kube-apiserver on loopback for the control-plane tests.

Binaries come from `scripts/test-apiserver` (built once and cached, or KUBE_APISERVER_BIN and
ETCD_BIN). The API server runs with RBAC, a static token file and a self-signed certificate.
One token is the admin's; one carries the identity of the gateway's ServiceAccount (the issue's
"static token file" fact), so the gateway runs with exactly the bindings of deploy/rbac.yaml.
Every process is stopped by its PID at teardown.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.proxy.process import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-token-for-tests"
GATEWAY_TOKEN = "gateway-token-for-tests"
GATEWAY_SA = "system:serviceaccount:ingress-gateway:ingress-gateway"
LIMITED_TOKEN = "limited-token-for-tests"
"""A user with no bindings until a test grants some."""


def _insecure_context() -> ssl.SSLContext:
    """TLS to the test API server's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def binaries() -> dict[str, str]:
    """Run scripts/test-apiserver and read the paths it prints."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "test-apiserver")],
        capture_output=True,
        text=True,
        timeout=3000,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class ApiServer:
    """etcd + kube-apiserver in `folder`, with kubeconfigs for the admin and the gateway."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []
        self._apiserver_argv: list[str] = []
        self._etcd_url = ""
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        bins = binaries()
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        etcd_port, peer_port = free_port(), free_port()
        self._etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                bins["ETCD_BIN"],
                "--data-dir",
                str(folder / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
            ],
        )
        subprocess.run(
            ["openssl", "genrsa", "-out", str(folder / "sa.key"), "2048"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "openssl",
                "rsa",
                "-in",
                str(folder / "sa.key"),
                "-pubout",
                "-out",
                str(folder / "sa.pub"),
            ],
            check=True,
            capture_output=True,
        )
        (folder / "tokens.csv").write_text(
            f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n'
            f"{GATEWAY_TOKEN},{GATEWAY_SA},gateway-uid,"
            '"system:serviceaccounts,system:serviceaccounts:ingress-gateway"\n'
            f"{LIMITED_TOKEN},limited,limited-uid\n"
        )
        self._apiserver_argv = [
            bins["KUBE_APISERVER_BIN"],
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={folder / 'certs'}",
            f"--service-account-key-file={folder / 'sa.pub'}",
            f"--service-account-signing-key-file={folder / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--token-auth-file={folder / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--insecure-port=0",
        ]
        self._spawn("kube-apiserver", self._apiserver_argv)
        self._wait_healthy()
        self.admin_kubeconfig = self._kubeconfig("admin", ADMIN_TOKEN)
        self.gateway_kubeconfig = self._kubeconfig("gateway", GATEWAY_TOKEN)
        self.limited_kubeconfig = self._kubeconfig("limited", LIMITED_TOKEN)
        return self

    def kill_apiserver(self) -> None:
        """Stop the API server (etcd keeps running), as an outage."""
        proc = self.procs.pop()
        proc.kill()
        proc.wait(10)

    def restart_apiserver(self) -> None:
        """Bring the API server back on the same port and etcd."""
        self._spawn("kube-apiserver", self._apiserver_argv)
        self._wait_healthy()

    def start_peer(self) -> ApiServer:
        """A second API server on the same etcd (to change the cluster while the first is down).
        Stop it with `stop_peer`."""
        peer = ApiServer.__new__(ApiServer)
        peer.folder, peer.procs, peer.port = self.folder, [], free_port()
        peer.url = f"https://127.0.0.1:{peer.port}"
        peer._apiserver_argv = [
            f"--secure-port={peer.port}" if a.startswith("--secure-port=") else a
            for a in self._apiserver_argv
        ]
        peer._etcd_url = self._etcd_url
        peer._spawn("kube-apiserver-peer", peer._apiserver_argv)
        peer._wait_healthy()
        return peer

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision; returns that revision. Every
        resourceVersion older than it is gone, as on a long-running cluster."""

        def post(path: str, body: dict[str, Any]) -> Any:
            request = urllib.request.Request(
                f"{self._etcd_url}{path}", data=json.dumps(body).encode(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=10) as reply:
                return json.loads(reply.read())

        revision = int(post("/v3/kv/range", {"key": "Lw=="})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=log))
        log.close()

    def _wait_healthy(self, timeout: float = 60.0) -> None:
        context = _insecure_context()
        request = urllib.request.Request(
            f"{self.url}/readyz", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError((self.folder / "kube-apiserver.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError((self.folder / "kube-apiserver.log").read_text()[-3000:])

    def _kubeconfig(self, user: str, token: str) -> Path:
        path = self.folder / f"{user}.kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "test",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {"server": self.url, "insecure-skip-tls-verify": True},
                        }
                    ],
                    "users": [{"name": user, "user": {"token": token}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
                }
            )
        )
        return path

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        """One REST call as the admin (kubectl of this machine is too new for a 1.20 server)."""
        context = _insecure_context()
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: {err.code} {err.read()[:500]!r}") from None

    def apply(self, collection: str, obj: dict[str, Any]) -> Any:
        """Create `obj` under `collection` (e.g. /api/v1/namespaces/ns/services), or update it."""
        try:
            return self.request("POST", collection, obj)
        except RuntimeError as err:
            if " 409 " not in str(err):
                raise
        # A merge patch keeps what the server filled in (a Service's clusterIP, for one).
        return self.request(
            "PATCH",
            f"{collection}/{obj['metadata']['name']}",
            obj,
            content_type="application/merge-patch+json",
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
