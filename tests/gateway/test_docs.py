"""`docs/configuration.md` is generated from the flags and the ConfigMap table."""

from __future__ import annotations

from pathlib import Path

from gateway.docs import render
from routing.globals import SETTINGS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run `python -m gateway.docs > docs/configuration.md`"
    )


def test_every_configmap_key_and_run_flag_is_documented() -> None:
    text = render()
    for setting in SETTINGS:
        assert f"`{setting.key}`" in text
    for flag in ("--manifests", "--listen", "--admin", "--configmap", "--shutdown-delay"):
        assert f"`{flag}`" in text


def test_every_exported_metric_is_in_the_metrics_doc() -> None:
    import asyncio

    from gateway.metrics import Metrics, TrafficMetrics, WorkerMetrics
    from gateway.proxy.server import ProxyServer
    from gateway.snapshot import SnapshotHolder

    async def proxy() -> ProxyServer:
        return ProxyServer(SnapshotHolder())

    metrics = Metrics()
    metrics.watch_source(lambda: {"Ingress": True})
    TrafficMetrics(metrics.registry).watch(asyncio.run(proxy()))
    WorkerMetrics(metrics.registry)
    text = (DOC.parent / "metrics.md").read_text(encoding="utf-8")
    names = {family.name for family in metrics.registry.collect()}
    assert "gateway_leader" in names
    missing = sorted(n for n in names if f"`{n}`" not in text and f"`{n}_total`" not in text)
    assert missing == []
