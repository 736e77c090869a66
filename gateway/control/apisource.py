"""The API-server source: one watch loop per kind, feeding the store, and `synced` once every
kind has been listed (the gateway is not ready before: DESIGN.md, "Admin").

Secrets and ConfigMaps are listed only after Ingresses and IngressClasses, so that their first
list is filtered with every reference known (`gateway.control.apisink`) instead of fetching
each referenced object one by one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from gateway.control.apisink import REFERENCED_KINDS, StoreSink
from gateway.control.kube import ApiClient, KindApi, kind_apis, make_client, read_object
from gateway.control.store import ObjectKey, Store
from gateway.control.watch import DEFAULT_WATCH, WatchSettings, watch_kind
from routing.compile import CompileSettings

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
        compile_settings: CompileSettings | None = None,
        settings: WatchSettings = DEFAULT_WATCH,
    ) -> None:
        self.compile_settings = compile_settings or CompileSettings()
        self.sink = StoreSink(store, changed, self.compile_settings, self._fetch)
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.settings = settings
        self.synced = asyncio.Event()
        """Set once every kind has been listed."""
        self.connected: dict[str, bool] = {}
        self._listed: set[int] = set()
        self._listed_kinds: set[str] = set()
        self._api: ApiClient | None = None
        self._kind_apis: list[KindApi] = []
        self._references_known = asyncio.Event()
        self._fetches: set[asyncio.Task[None]] = set()

    def _on_listed(self, kind_api: KindApi) -> None:
        self._listed.add(id(kind_api))
        self._listed_kinds.add(kind_api.kind)
        if self._listed_kinds >= {"Ingress", "IngressClass"}:
            self._references_known.set()
        if len(self._listed) == len(self._kind_apis) and not self.synced.is_set():
            kinds = sorted({k.kind for k in self._kind_apis})
            logger.info("every kind listed: %s", ", ".join(kinds))
            self.synced.set()

    def _fetch(self, key: ObjectKey) -> None:
        """Read a newly referenced Secret or ConfigMap (once its kind has been listed: until
        then, the coming list brings it)."""
        kind, namespace, name = key
        if kind not in self._listed_kinds or self._api is None:
            return

        async def fetch(api: ApiClient) -> None:
            try:
                obj = await read_object(api, kind, namespace, name)
            except Exception as err:
                logger.warning("reading %s %s/%s: %s", kind, namespace, name, err)
                return
            if obj is not None:
                self.sink.fetched(kind, obj)

        task = asyncio.get_running_loop().create_task(fetch(self._api))
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

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
            self._api, namespace=self.namespace, configmap=self.compile_settings.configmap
        )

    async def _watch(self, kind_api: KindApi) -> None:
        if kind_api.kind in REFERENCED_KINDS:
            await self._references_known.wait()
        await watch_kind(
            kind_api,
            _ScopedSink(self.sink, kind_api.namespace),
            settings=self.settings,
            on_listed=lambda kind: self._on_listed(kind_api),
            on_connected=self._on_connected,
        )

    async def run(self) -> None:
        """Watch every kind until cancelled."""
        if self._api is None:
            await self.prepare()
        assert self._api is not None
        try:
            async with asyncio.TaskGroup() as group:
                for kind_api in self._kind_apis:
                    group.create_task(self._watch(kind_api))
        finally:
            await self._api.close()


class _ScopedSink:
    """The sink as one KindApi sees it: a relist replaces only what that list covers."""

    def __init__(self, sink: StoreSink, namespace: str) -> None:
        self._sink = sink
        self._namespace = namespace

    def replace(self, kind: str, objects: list[Mapping[str, Any]]) -> None:
        self._sink.replace(kind, objects, self._namespace)

    def apply(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        self._sink.apply(kind, event_type, obj)
