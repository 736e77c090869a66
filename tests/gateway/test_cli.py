"""`gateway routes` and `gateway check` run as a user would run them: the installed console
script, in a subprocess, on the bundled examples and on broken manifests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.objects import ingress, path, rule

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo"
GATEWAY = shutil.which("gateway", path=str(Path(sys.executable).parent)) or "gateway"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full_env.update(env or {})
    return subprocess.run(
        [GATEWAY, *args], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )


def _write_ingress(
    target: Path, *, class_name: str | None = "gateway", annotations: dict[str, str] | None = None
) -> None:
    """One Ingress for any host, `/` to Service s:80, written as YAML (JSON is valid YAML)."""
    target.write_text(
        json.dumps(
            ingress(
                "x",
                rule(None, path("/", service="s")),
                class_name=class_name,
                annotations=annotations,
            )
        )
    )


def test_routes_prints_the_demo_table() -> None:
    result = run("routes", "--manifests", str(DEMO))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["HOST", "PATH", "MATCH", "BACKEND", "ENDPOINTS", "INGRESS"]
    assert any("shop.example.com" in line and "/legacy(/|$)(.*) → /$2" in line for line in lines)
    assert any(line.startswith("*.apps.example.com") for line in lines)
    assert "problems:" not in result.stdout


def test_routes_json_is_the_debug_routes_document() -> None:
    result = run("routes", "--manifests", str(DEMO), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"generation", "digest", "routes", "problems", "settings", "aliases"}
    assert document["generation"] == 1 and len(document["digest"]) == 16
    for route in document["routes"]:
        assert {
            "host",
            "path",
            "match",
            "namespace",
            "ingress",
            "service",
            "port",
            "endpoints",
        } <= set(route)
        assert route["match"] in {"exact", "prefix", "regex"}
    api = next(r for r in document["routes"] if r["path"] == "/api")
    assert api["endpoints"] == ["127.0.0.1:9102"]


def test_routes_reads_manifests_from_the_environment() -> None:
    result = run("routes", "--json", env={"GATEWAY_MANIFESTS": str(DEMO)})
    assert result.returncode == 0 and json.loads(result.stdout)["routes"]


def test_flag_wins_over_environment() -> None:
    other = {"GATEWAY_CONTROLLER_CLASS": "example.com/other"}
    result = run("routes", "--manifests", str(DEMO), "--json", env=other)
    assert json.loads(result.stdout)["routes"] == []
    result = run(
        "routes",
        "--manifests",
        str(DEMO),
        "--json",
        "--controller-class",
        "ingress-gateway.dev/controller",
        env=other,
    )
    assert json.loads(result.stdout)["routes"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        pytest.param(["routes"], {}, "needs --manifests", id="routes-without-manifests"),
        pytest.param(
            ["routes", "--manifests", "x", "--watch-ingress-without-class=maybe"],
            {},
            "not a boolean",
            id="bad-boolean-flag",
        ),
        pytest.param(
            ["routes", "--manifests", "x"],
            {"GATEWAY_WATCH_INGRESS_WITHOUT_CLASS": "yes"},
            "GATEWAY_WATCH_INGRESS_WITHOUT_CLASS",
            id="bad-boolean-env",
        ),
        pytest.param(["frobnicate"], {}, "invalid choice", id="unknown-command"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], message: str
) -> None:
    assert_usage_error(run(*args, env=env), message)


def assert_usage_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit status 2 and one `gateway …: error: …` line naming the problem; no traceback."""
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("gateway") and ": error: " in last


def test_watch_ingress_without_class_from_env(tmp_path: Path) -> None:
    _write_ingress(tmp_path / "i.yaml", class_name=None)
    assert json.loads(run("routes", "--manifests", str(tmp_path), "--json").stdout)["routes"] == []
    for value in ("true", "1"):
        result = run(
            "routes",
            "--manifests",
            str(tmp_path),
            "--json",
            env={"GATEWAY_WATCH_INGRESS_WITHOUT_CLASS": value},
        )
        assert len(json.loads(result.stdout)["routes"]) == 1


def test_check_passes_on_the_bundled_examples() -> None:
    result = run("check", str(ROOT / "examples"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 error(s)" in result.stderr


def test_check_reports_each_problem_on_one_line_and_exits_1(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "tests" / "routing" / "cases" / "invalid", tmp_path / "m")
    (tmp_path / "m" / "broken.yaml").write_text("kind: Ingress\nmetadata: {name: [\n")
    result = run("check", str(tmp_path / "m"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(
        line.endswith(".yaml: error: line 3, column 1: YAML: while parsing a flow sequence")
        or ("broken.yaml: error: line" in line and "YAML" in line)
        for line in lines
    )
    bad_bool = next(line for line in lines if "bad-bool" in line)
    assert bad_bool == (
        f"{tmp_path / 'm' / 'ingresses.yaml'}: error: Ingress default/bad-bool: "
        "metadata.annotations[nginx.ingress.kubernetes.io/use-regex]: "
        '\'yes please\' is not a boolean (use "true" or "false")'
    )
    assert any(": warning: Ingress default/unknown-key: " in line for line in lines)
    assert "Traceback" not in result.stderr


def test_check_with_only_warnings_exits_0(tmp_path: Path) -> None:
    _write_ingress(tmp_path / "i.yaml", annotations={"nginx.ingress.kubernetes.io/future-key": "v"})
    result = run("check", str(tmp_path))
    assert result.returncode == 0
    assert [line.split(": ")[1] for line in result.stdout.splitlines()] == ["warning", "warning"]
