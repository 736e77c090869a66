"""The gateway as a separate process, started as a user starts it: `gateway run …`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

GATEWAY = shutil.which("gateway", path=str(Path(sys.executable).parent)) or "gateway"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_ready(
    admin: str,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 20.0,
    what: Callable[[], str] = lambda: "",
) -> None:
    """Poll `admin`/readyz until it answers 200; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {what()}")
        try:
            if http_get(f"{admin}/readyz", 0.5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"gateway not ready: {what()}")


class GatewayProcess:
    """`gateway run` in a subprocess, with its output in files; stopped by PID."""

    def __init__(self, folder: Path, document: dict[str, Any], *extra: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cluster.json").write_text(json.dumps(document))
        self.folder = folder
        self.port = free_port()
        self.admin_port = free_port()
        self.tls_port = free_port()
        self.stdout = (folder.parent / f"{folder.name}.stdout").open("wb")
        self.stderr_path = folder.parent / f"{folder.name}.stderr"
        self.stderr = self.stderr_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.proc = subprocess.Popen(
            [
                GATEWAY,
                "run",
                "--manifests",
                str(folder),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--listen-tls",
                f"127.0.0.1:{self.tls_port}",
                "--admin",
                f"127.0.0.1:{self.admin_port}",
                "--configmap",
                "default/gateway-config",
                *extra,
            ],
            stdout=self.stdout,
            stderr=self.stderr,
            env=env,
        )

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def wait_ready(self, timeout: float = 20.0) -> None:
        wait_ready(self.url(""), self.proc, timeout, self.stderr_path.read_text)

    async def await_ready(self) -> None:
        await asyncio.to_thread(self.wait_ready)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stdout.close()
        self.stderr.close()
        return int(self.proc.returncode)
