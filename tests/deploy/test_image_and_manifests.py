"""The Dockerfile passes hadolint and builds an image whose entrypoint serves; deploy/ holds
what a cluster needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or "hadolint"
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap, podman build and chroot need root")
def test_the_image_builds_and_its_entrypoint_serves() -> None:
    """scripts/check-image: a local Debian base, `podman build --isolation=chroot` of the
    Dockerfile, then the image's own entrypoint, user and environment under chroot."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "check-image")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "IMAGE": "localhost/ingress-gateway:test"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runs 'gateway run' as user 10001" in result.stdout


def test_deploy_folder_has_every_object_a_cluster_needs() -> None:
    objects = [
        o
        for f in sorted((ROOT / "deploy").glob("*.yaml"))
        for o in yaml.safe_load_all(f.read_text())
        if o
    ]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for expected in [
        ("Namespace", "ingress-gateway"),
        ("ServiceAccount", "ingress-gateway"),
        ("ClusterRole", "ingress-gateway"),
        ("IngressClass", "gateway"),
        ("ConfigMap", "ingress-gateway"),
        ("Deployment", "ingress-gateway"),
        ("Service", "ingress-gateway"),
        ("Service", "ingress-gateway-metrics"),
    ]:
        assert expected in kinds
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {e["name"] for e in container["env"]} >= {"POD_NAME", "POD_NAMESPACE"}
    args = dict(a.lstrip("-").split("=", 1) for a in container["args"])
    assert pod["terminationGracePeriodSeconds"] > float(args["shutdown-delay"]) + float(
        args["shutdown-timeout"]
    )
    service = next(
        o for o in objects if o["kind"] == "Service" and o["spec"]["type"] == "LoadBalancer"
    )
    assert service["spec"]["externalTrafficPolicy"] == "Local"
