"""The watch loop: list, then watch from the list's resourceVersion, forever.

Theory of operation (style-models.md §13, reliability.md §4.5)
--------------------------------------------------------------
`watch_kind` owns the loop instead of relying on a client library's hidden reconnects:

* **list** gives the whole current set of one kind and a resourceVersion; the sink replaces
  everything it held of that kind (objects that vanished while we were away are deleted);
* **watch** from that resourceVersion delivers ADDED/MODIFIED/DELETED events; every event and
  BOOKMARK advances the resourceVersion, so a watch that ends (the server's `timeout_seconds`,
  a dropped connection, our inactivity timeout) resumes exactly where it stopped: no event lost,
  none applied twice;
* **410 Gone** (as an HTTP status or as an `ERROR` event, which kubernetes-asyncio hands over as
  an ordinary event) means the resourceVersion was compacted away: relist at once;
* any other failure: wait with capped exponential backoff and jitter, then resume the watch (or
  relist when no resourceVersion is known). The sink keeps what it has meanwhile, so the last
  good routes keep serving for as long as the API server is gone.

The API is reached through `ListWatch`, two calls returning plain dicts, so the loop is tested
with recorded event streams and runs against the real server through `gateway.control.kube`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Obj = Mapping[str, Any]


class ResourceExpired(Exception):
    """410 Gone: the resourceVersion is too old; only a new list helps."""


class ApiError(Exception):
    """Any other failure talking to the API server."""


class ListWatch(Protocol):
    """One kind on the API server, as plain dicts."""

    kind: str

    async def list(self) -> tuple[list[Obj], str]:
        """Every object of the kind, and the list's resourceVersion."""
        ...

    def watch(self, resource_version: str, timeout_seconds: int) -> AsyncIterator[Obj]:
        """Events `{"type": ..., "object": {...}}` from `resource_version` on."""
        ...


class Sink(Protocol):
    """Where a kind's objects go (the store, through conversion)."""

    def replace(self, kind: str, objects: list[Obj]) -> None:
        """The complete current set of `kind` (after a list)."""

    def apply(self, kind: str, event_type: str, obj: Obj) -> None:
        """One ADDED, MODIFIED or DELETED object."""


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Timeouts and backoff of the watch loop; each default says why."""

    server_timeout: int = 300
    """Seconds the server keeps a watch open; it then ends it cleanly and we resume."""
    inactivity_timeout: float = 330.0
    """No byte (not even a bookmark) for this long means a dead connection: reconnect."""
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    """Capped so that an API server back after an outage is noticed within half a minute."""


DEFAULT_WATCH = WatchSettings()


def _resource_version(obj: Obj) -> str:
    metadata = obj.get("metadata")
    return str(metadata.get("resourceVersion") or "") if isinstance(metadata, Mapping) else ""


def _error_status(obj: Obj) -> int:
    code = obj.get("code")
    return int(code) if isinstance(code, int) else 0


async def watch_kind(
    api: ListWatch,
    sink: Sink,
    *,
    settings: WatchSettings = DEFAULT_WATCH,
    on_listed: Callable[[str], None] = lambda kind: None,
    on_connected: Callable[[str, bool], None] = lambda kind, up: None,
) -> None:
    """List and watch one kind forever (until cancelled)."""
    position = _Position()
    failures = 0
    while True:
        try:
            if not position.resource_version:
                objects, position.resource_version = await api.list()
                sink.replace(api.kind, objects)
                on_listed(api.kind)
            on_connected(api.kind, True)
            await _watch_once(api, sink, position, settings)
            failures = 0
        except ResourceExpired:
            logger.info(
                "%s: resourceVersion %s expired, relisting", api.kind, position.resource_version
            )
            position.resource_version = ""
        except asyncio.CancelledError:
            raise
        except Exception as err:
            failures += 1
            on_connected(api.kind, False)
            delay = min(settings.backoff_max, settings.backoff_initial * 2 ** (failures - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: replicas do not retry in lockstep
            logger.warning("%s: watch failed (%s); retrying in %.1fs", api.kind, err, delay)
            await asyncio.sleep(delay)


class _Position:
    """Where the watch is: updated by every event, so a failure midway loses no progress."""

    __slots__ = ("resource_version",)

    def __init__(self) -> None:
        self.resource_version = ""


async def _watch_once(
    api: ListWatch, sink: Sink, position: _Position, settings: WatchSettings
) -> None:
    """One watch request, from `position` on; returns when the server ends it."""
    events = api.watch(position.resource_version, settings.server_timeout).__aiter__()
    while True:
        try:
            event = await asyncio.wait_for(events.__anext__(), settings.inactivity_timeout)
        except StopAsyncIteration:
            return  # the server ended the watch: resume from here
        except TimeoutError:
            raise ApiError(f"no event for {settings.inactivity_timeout:g}s") from None
        event_type = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, Mapping):
            continue
        if event_type == "ERROR":
            if _error_status(obj) == 410:
                raise ResourceExpired(str(obj.get("message", "")))
            raise ApiError(f"watch error: {obj.get('message', obj)}")
        version = _resource_version(obj)
        if version:
            position.resource_version = version
        if event_type in ("ADDED", "MODIFIED", "DELETED"):
            sink.apply(api.kind, event_type, obj)
