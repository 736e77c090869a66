"""The admin server (aiohttp): health, readiness, metrics and the live route table."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.metrics import Metrics
from gateway.snapshot import SnapshotHolder
from routing.document import routes_document


def admin_app(
    holder: SnapshotHolder,
    metrics: Metrics,
    ready: Callable[[], bool],
    before_scrape: Callable[[], Awaitable[None]] | None = None,
) -> web.Application:
    """`/healthz`, `/readyz`, `/metrics` and `/debug/routes`; `before_scrape` fetches fresh
    figures from the workers."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    async def prometheus(_: web.Request) -> web.Response:
        if before_scrape is not None:
            await before_scrape()
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def routes(_: web.Request) -> web.Response:
        snapshot = holder.current
        if snapshot is None:
            return web.json_response({"error": "no snapshot is live yet"}, status=503)
        document = routes_document(snapshot, holder.generation)
        return web.Response(
            text=json.dumps(document, indent=2) + "\n", content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/debug/routes", routes)
    return app
