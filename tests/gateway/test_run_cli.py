"""`gateway run` and `gateway demo` as a user runs them: flags, environment, bad values, and the
README's curl commands against the demo."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.gateway.test_cli import GATEWAY, assert_usage_error, run
from tests.proxy.process import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        pytest.param(
            ["run", "--manifests", "x", "--listen", "nonsense"],
            {},
            "is not HOST:PORT",
            id="bad-listen",
        ),
        pytest.param(
            ["run", "--manifests", "x", "--admin", "1.2.3.4:99999"],
            {},
            "is not HOST:PORT",
            id="port-out-of-range",
        ),
        pytest.param(
            ["run", "--manifests", "x"],
            {"GATEWAY_LISTEN": "oops"},
            "GATEWAY_LISTEN",
            id="bad-listen-env",
        ),
        pytest.param(
            ["run", "--manifests", "x", "--workers", "0"],
            {},
            "not a number of workers",
            id="zero-workers",
        ),
        pytest.param(
            ["run", "--manifests", "x", "--workers", "many"],
            {},
            "not a number of workers (1 or more, or auto)",
            id="workers-not-a-number",
        ),
        pytest.param(["run"], {"KUBECONFIG": ""}, "no --kubeconfig or KUBECONFIG", id="no-source"),
        pytest.param(
            ["run", "--kubeconfig", "/nonexistent"],
            {},
            "cannot configure the Kubernetes",
            id="bad-kubeconfig",
        ),
        pytest.param(
            ["run", "--manifests", "x", "--configmap", "just-a-name"],
            {},
            "is not NAMESPACE/NAME",
            id="bad-configmap",
        ),
        pytest.param(
            ["run", "--manifests", "x", "--shutdown-delay", "-1"],
            {},
            "is negative",
            id="negative-delay",
        ),
        pytest.param(
            ["run", "--manifests", "x", "--log-level", "loud"],
            {},
            "is not one of",
            id="bad-log-level",
        ),
    ],
)
def test_bad_run_flags_are_one_line_and_exit_2(
    args: list[str], env: dict[str, str], message: str
) -> None:
    assert_usage_error(run(*args, env=env), message)


def test_run_reads_its_flags_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    port, admin = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        {
            "GATEWAY_MANIFESTS": str(tmp_path / "m"),
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "GATEWAY_ADMIN": f"127.0.0.1:{admin}",
            "GATEWAY_SHUTDOWN_DELAY": "0",
        }
    )
    proc = subprocess.Popen(
        [GATEWAY, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_ready(f"http://127.0.0.1:{admin}")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stderr is not None
        proc.stderr.close()


def _readme_curl_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Try it", 1)[1].split("```", 2)[1]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("curl")]


def test_demo_answers_the_readme_curl_commands() -> None:
    """`gateway demo` on its default ports, driven by the commands the README shows."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    proc = subprocess.Popen(
        [GATEWAY, "demo"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_ready("http://127.0.0.1:10254")
        commands = _readme_curl_commands()
        assert len(commands) >= 6
        seen = []
        for command in commands:
            result = subprocess.run(
                command, shell=True, capture_output=True, text=True, timeout=10, check=False
            )
            assert result.returncode == 0, (command, result.stderr)
            seen.append(result.stdout)
        echo = [json.loads(out) for out in seen if out.startswith('{\n  "backend"')]
        assert {e["backend"] for e in echo} == {"echo-a", "echo-b"}
        assert any(e["path"] == "/old" and e["query"] == "x=1" for e in echo)
        assert any(re.search(r"gateway_requests_total\{", out) for out in seen)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert proc.stderr is not None
        proc.stderr.close()


def test_manifest_mode_does_not_load_the_kubernetes_client() -> None:
    """kubernetes-asyncio's generated models cost ~37 MiB of RSS; only cluster mode loads them."""
    import sys

    code = "import sys, gateway.app, gateway.demo; print('kubernetes_asyncio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
