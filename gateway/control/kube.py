"""The Kubernetes API through kubernetes-asyncio: client set-up and one `ListWatch` per kind.

The only module that imports `kubernetes_asyncio`. Calls use `_preload_content=False`, which
returns the raw HTTP response: lists are read as plain JSON and watches as lines of JSON, so no
generated model is ever built (they are slow and would leak library types into the store), and
HTTP statuses are turned into our own exceptions here (410 → `ResourceExpired`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from kubernetes_asyncio import client, config

from gateway.control.watch import ApiError, ResourceExpired

logger = logging.getLogger(__name__)

ListCall = Callable[..., Awaitable[Any]]
ApiClient = client.ApiClient


async def make_client(kubeconfig: str | None) -> client.ApiClient:
    """An API client from `--kubeconfig`, `KUBECONFIG`, or the pod's service account."""
    try:
        if kubeconfig or os.environ.get("KUBECONFIG"):
            await config.load_kube_config(config_file=kubeconfig or os.environ["KUBECONFIG"])
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as err:
        where = kubeconfig or os.environ.get("KUBECONFIG")
        hint = (
            f"kubeconfig {where}"
            if where
            else ("no --kubeconfig or KUBECONFIG, and no in-cluster service account")
        )
        raise ApiError(f"cannot configure the Kubernetes client ({hint}): {err}") from None
    return client.ApiClient()


def _check(status: int, body: str, what: str) -> None:
    if status == 410:
        raise ResourceExpired(what)
    if not 200 <= status <= 299:
        raise ApiError(f"{what}: HTTP {status}: {body[:200]}")


def instance_name() -> str:
    """This replica's name: the pod's (downward API `POD_NAME`), else host and process id, so
    two gateways on one machine never share a leader-election identity."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


async def call_json(call: ListCall, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """One API call through a generated method, as (HTTP status, JSON body or {})."""
    response = await call(*args, _preload_content=False, _request_timeout=10, **kwargs)
    try:
        text = await response.text()
    finally:
        response.release()
    try:
        document = json.loads(text) if text else {}
    except ValueError:
        document = {"message": text[:200]}
    return int(response.status), document if isinstance(document, dict) else {}


@dataclass
class KindApi:
    """`ListWatch` for one kind, through one generated list call."""

    kind: str
    call: ListCall
    namespace: str = ""
    """The one namespace this list covers when it is not the same as the other kinds' scope
    (the global ConfigMap outside `--watch-namespace`); a relist replaces only that one."""

    async def list(self) -> tuple[list[Mapping[str, Any]], str]:
        """Every object of the kind and the list's resourceVersion."""
        response = await self.call(_preload_content=False, _request_timeout=60)
        try:
            text = await response.text()
            _check(response.status, text, f"listing {self.kind}")
        finally:
            response.release()
        document = json.loads(text)
        return document.get("items") or [], str(document["metadata"]["resourceVersion"])

    async def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Events from `resource_version`, until the server ends the watch."""
        response = await self.call(
            watch=True,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_watch_bookmarks=True,
            _preload_content=False,
            _request_timeout=timeout_seconds + 30,
        )
        try:
            if response.status != 200:
                _check(response.status, await response.text(), f"watching {self.kind}")
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)
        finally:
            response.release()


async def read_object(
    api: client.ApiClient, kind: str, namespace: str, name: str
) -> Mapping[str, Any] | None:
    """One Secret or ConfigMap by name; None when it does not exist."""
    core = client.CoreV1Api(api)
    call = core.read_namespaced_secret if kind == "Secret" else core.read_namespaced_config_map
    status, obj = await call_json(call, name, namespace)
    if status == 404:
        return None
    _check(status, str(obj.get("message", "")), f"reading {kind} {namespace}/{name}")
    return obj


async def serves_endpoint_slices(api: client.ApiClient) -> bool:
    """Whether the server serves discovery.k8s.io/v1 (else core/v1 Endpoints are watched)."""
    try:
        groups = await client.ApisApi(api).get_api_versions()
    except Exception as err:
        logger.warning("API discovery failed (%s); watching Endpoints", err)
        return False
    for group in groups.groups:
        if group.name == "discovery.k8s.io":
            return any(v.version == "v1" for v in group.versions)
    return False


async def kind_apis(
    api: client.ApiClient, *, namespace: str = "", configmap: tuple[str, str] | None = None
) -> list[KindApi]:
    """The kinds the gateway watches; namespaced kinds limited to `namespace` when given."""
    core = client.CoreV1Api(api)
    networking = client.NetworkingV1Api(api)

    def namespaced(all_namespaces: ListCall, one: ListCall) -> ListCall:
        return partial(one, namespace) if namespace else all_namespaces

    kinds = [
        KindApi("IngressClass", networking.list_ingress_class),
        KindApi(
            "Ingress",
            namespaced(
                networking.list_ingress_for_all_namespaces, networking.list_namespaced_ingress
            ),
        ),
        KindApi(
            "Service",
            namespaced(core.list_service_for_all_namespaces, core.list_namespaced_service),
        ),
    ]
    if await serves_endpoint_slices(api):
        discovery = client.DiscoveryV1Api(api)
        kinds.append(
            KindApi(
                "EndpointSlice",
                namespaced(
                    discovery.list_endpoint_slice_for_all_namespaces,
                    discovery.list_namespaced_endpoint_slice,
                ),
            )
        )
    else:
        kinds.append(
            KindApi(
                "Endpoints",
                namespaced(core.list_endpoints_for_all_namespaces, core.list_namespaced_endpoints),
            )
        )
    kinds += [
        KindApi(
            "Secret",
            namespaced(core.list_secret_for_all_namespaces, core.list_namespaced_secret),
        ),
        KindApi(
            "ConfigMap",
            namespaced(core.list_config_map_for_all_namespaces, core.list_namespaced_config_map),
        ),
    ]
    if configmap is not None and namespace and configmap[0] != namespace:
        kinds.append(
            KindApi(
                "ConfigMap",
                partial(
                    core.list_namespaced_config_map,
                    configmap[0],
                    field_selector=f"metadata.name={configmap[1]}",
                ),
                namespace=configmap[0],
            )
        )
    return kinds
