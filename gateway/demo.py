"""`gateway demo`: two echo backends and the gateway on the bundled demo manifests.

The echo backends stand in for pods: each answers every request with a JSON description of what
it received (which backend, method, path, query, headers), so a newcomer can see routing,
rewrites and the forwarding headers with nothing but curl.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from gateway.app import Gateway, serve
from gateway.settings import RunSettings

DEMO_MANIFESTS = Path(__file__).resolve().parents[1] / "examples" / "demo"
BACKENDS = (("echo-a", 9101), ("echo-b", 9102))


def echo_app(name: str) -> web.Application:
    """An HTTP server that describes each request it receives."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        description = {
            "backend": name,
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": dict(request.headers),
            "body_bytes": len(body),
        }
        return web.Response(
            text=json.dumps(description, indent=2) + "\n", content_type="application/json"
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def start_backends(host: str = "127.0.0.1") -> list[web.AppRunner]:
    """Start the echo backends on the ports the demo manifests name."""
    runners = []
    for name, port in BACKENDS:
        runner = web.AppRunner(echo_app(name), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
    return runners


def _instructions(port: int, admin: int) -> str:
    base = f"http://127.0.0.1:{port}"
    return f"""
The gateway serves the demo on {base} (admin on http://127.0.0.1:{admin}). Try:

  curl -s -H 'Host: shop.example.com' {base}/                 # Prefix /     -> echo-a
  curl -s -H 'Host: shop.example.com' {base}/api/items        # Prefix /api  -> echo-b
  curl -s -H 'Host: shop.example.com' {base}/api/health       # Exact        -> echo-a
  curl -s -H 'Host: shop.example.com' '{base}/legacy/old?x=1' # rewrite: echo-b sees /old?x=1
  curl -s -H 'Host: tenant1.apps.example.com' {base}/         # wildcard host -> echo-b
  curl -s -H 'Host: unknown.example.com' {base}/              # default backend -> echo-a
  curl -s http://127.0.0.1:{admin}/debug/routes               # the live route table
  curl -s http://127.0.0.1:{admin}/metrics | grep gateway_requests_total

Edit a file under {DEMO_MANIFESTS} and the change is live within a second. Ctrl-C stops.
"""


async def demo(settings: RunSettings) -> int:
    """Start the backends, print what to try, and serve until a signal."""
    runners = await start_backends()

    def explain(gateway: Gateway) -> None:
        sys.stderr.write(_instructions(gateway.ports["http"], gateway.ports["admin"]))

    try:
        return await serve(settings, on_started=explain)
    finally:
        for runner in runners:
            await runner.cleanup()


def demo_settings(settings: RunSettings) -> RunSettings:
    """The demo's defaults: loopback only, the bundled manifests, a quick shutdown."""
    return replace(
        settings,
        manifests=settings.manifests or str(DEMO_MANIFESTS),
        listen=settings.listen if settings.listen != RunSettings().listen else ("127.0.0.1", 8080),
        listen_tls=(
            settings.listen_tls
            if settings.listen_tls != RunSettings().listen_tls
            else ("127.0.0.1", 8443)
        ),
        admin=settings.admin if settings.admin != RunSettings().admin else ("127.0.0.1", 10254),
        shutdown_delay=0.0,
        shutdown_timeout=5.0,
    )


def run_demo(settings: RunSettings) -> int:
    """Entry point of `gateway demo`."""
    import logging

    import uvloop

    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return uvloop.run(demo(demo_settings(settings)))
