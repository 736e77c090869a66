"""The API-server source: one watch loop per kind, feeding the store, and `synced` once every
kind has been listed (the gateway is not ready before: DESIGN.md, "Admin")."""

from __future__ import annotations

import asyncio
import logging

from gateway.control.apisink import StoreSink
from gateway.control.kube import ApiClient, KindApi, kind_apis, make_client
from gateway.control.store import Store
from gateway.control.watch import DEFAULT_WATCH, WatchSettings, watch_kind

logger = logging.getLogger(__name__)


class ApiSource:
    """Lists and watches the cluster into `store`; sets `changed` when the store changes."""

    def __init__(
        self,
        store: Store,
        changed: asyncio.Event,
        *,
        kubeconfig: str | None,
        namespace: str = "",
        configmap: tuple[str, str] | None = None,
        settings: WatchSettings = DEFAULT_WATCH,
    ) -> None:
        self.sink = StoreSink(store, changed)
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.configmap = configmap
        self.settings = settings
        self.synced = asyncio.Event()
        """Set once every kind has been listed."""
        self.connected: dict[str, bool] = {}
        self._listed: set[str] = set()
        self._kinds: set[str] = set()
        self._api: ApiClient | None = None
        self._kind_apis: list[KindApi] = []

    def _on_listed(self, kind: str) -> None:
        self._listed.add(kind)
        if self._listed >= self._kinds and not self.synced.is_set():
            logger.info("every kind listed: %s", ", ".join(sorted(self._kinds)))
            self.synced.set()

    def _on_connected(self, kind: str, up: bool) -> None:
        if self.connected.get(kind) != up:
            (logger.info if up else logger.warning)(
                "%s: %s the API server", kind, "watching" if up else "lost"
            )
        self.connected[kind] = up

    @property
    def api(self) -> ApiClient:
        """The configured client (after `prepare`)."""
        assert self._api is not None
        return self._api

    async def prepare(self) -> None:
        """Configure the client and discover the kinds; `ApiError` on a bad configuration."""
        self._api = await make_client(self.kubeconfig)
        self._kind_apis = await kind_apis(
            self._api, namespace=self.namespace, configmap=self.configmap
        )
        self._kinds = {k.kind for k in self._kind_apis}

    async def run(self) -> None:
        """Watch every kind until cancelled."""
        if self._api is None:
            await self.prepare()
        assert self._api is not None
        try:
            async with asyncio.TaskGroup() as group:
                for kind in self._kind_apis:
                    group.create_task(
                        watch_kind(
                            kind,
                            self.sink,
                            settings=self.settings,
                            on_listed=self._on_listed,
                            on_connected=self._on_connected,
                        )
                    )
        finally:
            await self._api.close()
