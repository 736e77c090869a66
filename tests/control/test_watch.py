"""The watch loop on recorded event streams: resume, bookmarks, 410, errors, inactivity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.control.apisink import StoreSink
from gateway.control.store import Store
from gateway.control.watch import ApiError, WatchSettings, watch_kind

pytestmark = pytest.mark.asyncio
FAST = WatchSettings(
    server_timeout=5, inactivity_timeout=0.3, backoff_initial=0.01, backoff_max=0.05
)


def svc(name: str, rv: str, port: int = 80) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {"ports": [{"port": port}]},
    }


def ev(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


HANG = object()


class Recorded:
    """A ListWatch that replays scripted lists and watch streams and records the calls."""

    kind = "Service"

    def __init__(self, lists: list[Any], watches: list[list[Any]]) -> None:
        self.lists = lists
        self.watches = watches
        self.calls: list[tuple[str, str]] = []
        self.done = asyncio.Event()

    async def list(self) -> tuple[list[dict[str, Any]], str]:
        self.calls.append(("list", ""))
        result = self.lists.pop(0)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    async def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(("watch", resource_version))
        if not self.watches:
            self.done.set()
            await asyncio.sleep(3600)
        for item in self.watches.pop(0):
            if item is HANG:
                await asyncio.sleep(3600)
            if isinstance(item, Exception):
                raise item
            yield item


async def run(api: Recorded, store: Store) -> list[str]:
    listed: list[str] = []
    task = asyncio.create_task(
        watch_kind(api, StoreSink(store, asyncio.Event()), settings=FAST, on_listed=listed.append)
    )
    async with asyncio.timeout(5):
        await api.done.wait()
    task.cancel()
    return listed


def names(store: Store) -> list[str]:
    return sorted(s.meta.name for s in store.state().services)


async def test_list_then_watch_resumes_from_the_last_event_and_bookmark() -> None:
    api = Recorded(
        lists=[([svc("a", "10")], "10")],
        watches=[
            [
                ev("ADDED", svc("b", "11")),
                ev("MODIFIED", svc("a", "12", 81)),
                ev("BOOKMARK", {"metadata": {"resourceVersion": "15"}}),
            ],
            [ev("DELETED", svc("b", "16"))],
        ],
    )
    store = Store()
    assert await run(api, store) == ["Service"]
    assert api.calls == [("list", ""), ("watch", "10"), ("watch", "15"), ("watch", "16")]
    assert names(store) == ["a"]
    assert store.state().services[0].ports[0].port == 81


async def test_410_as_an_error_event_relists_and_deletes_what_vanished() -> None:
    gone = {"kind": "Status", "code": 410, "message": "too old resource version"}
    api = Recorded(
        lists=[([svc("a", "10"), svc("b", "10")], "10"), ([svc("b", "30")], "30")],
        watches=[[ev("ERROR", gone)], []],
    )
    store = Store()
    assert await run(api, store) == ["Service", "Service"]
    assert api.calls == [
        ("list", ""),
        ("watch", "10"),
        ("list", ""),
        ("watch", "30"),
        ("watch", "30"),
    ]
    assert names(store) == ["b"]


async def test_errors_back_off_and_resume_the_watch_without_a_relist() -> None:
    api = Recorded(
        lists=[([svc("a", "10")], "10")],
        watches=[
            [ev("ADDED", svc("b", "11")), ConnectionResetError("reset")],
            [ev("ERROR", {"code": 500, "message": "internal"})],
            [],
        ],
    )
    store = Store()
    await run(api, store)
    assert api.calls == [
        ("list", ""),
        ("watch", "10"),
        ("watch", "11"),
        ("watch", "11"),
        ("watch", "11"),
    ]
    assert names(store) == ["a", "b"]


async def test_failed_list_keeps_the_last_state_and_retries() -> None:
    api = Recorded(
        lists=[ApiError("unreachable"), ApiError("unreachable"), ([svc("a", "5")], "5")], watches=[]
    )
    store = Store()
    await run(api, store)
    assert [c[0] for c in api.calls] == ["list", "list", "list", "watch"]
    assert names(store) == ["a"]


async def test_silent_watch_is_reconnected_after_the_inactivity_timeout() -> None:
    api = Recorded(
        lists=[([svc("a", "10")], "10")], watches=[[ev("ADDED", svc("b", "12")), HANG], []]
    )
    store = Store()
    started = asyncio.get_running_loop().time()
    await run(api, store)
    assert asyncio.get_running_loop().time() - started >= FAST.inactivity_timeout
    assert api.calls[-2:] == [("watch", "12"), ("watch", "12")]
