"""Pods for the end-to-end tests: an HTTP server in a network namespace of its own.

The API server refuses loopback addresses in Endpoints, so a "pod" here is what a pod is to the
network: a namespace with a veth pair to the host, an address of its own (10.244.N.2, the host
side being 10.244.N.1), and a server that answers every request with the pod's name. Needs root
(as CI has). Every namespace, link and process is removed at `stop`, the process by its PID.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SERVER = Path(__file__).with_name("pod_server.py")
_numbers = itertools.count(1)


def can_make_pods() -> bool:
    """Root and the `ip` tool: what network namespaces need."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Pod:
    """One network namespace serving HTTP on `ip`:`port` (and on `port + 1`, saying so)."""

    def __init__(self, name: str, port: int = 8080) -> None:
        number = next(_numbers) + (os.getpid() % 100) * 100
        self.name = name
        self.netns = f"gwtest-{os.getpid()}-{number}"
        self.link = f"gwt{number}"  # host side; interface names are at most 15 characters
        block = f"10.244.{number // 64}"  # one /30 per pod: .4k+1 the host, .4k+2 the pod
        self.host_ip = f"{block}.{number % 64 * 4 + 1}"
        self.ip = f"{block}.{number % 64 * 4 + 2}"
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Pod:
        _ip("netns", "add", self.netns)
        try:
            _ip(
                "link",
                "add",
                self.link,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.netns,
            )
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.link)
            _ip("link", "set", self.link, "up")
            inside = ("netns", "exec", self.netns, "ip")
            _ip(*inside, "addr", "add", f"{self.ip}/30", "dev", "eth0")
            _ip(*inside, "link", "set", "eth0", "up")
            _ip(*inside, "link", "set", "lo", "up")
            self.proc = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.netns,
                    sys.executable,
                    str(SERVER),
                    self.ip,
                    str(self.port),
                    self.name,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self._wait_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_serving(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.ip}:{self.port}/", timeout=1) as reply:
                    if reply.read() == self.name.encode():
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"pod {self.name} not serving on {self.ip}:{self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        for gone in (("link", "del", self.link), ("netns", "del", self.netns)):
            subprocess.run(["ip", *gone], check=False, capture_output=True, timeout=10)
