"""Watches a manifest folder and feeds the store: changes are live within about a second.

Polling (every `interval`) compares each file's size and modification time, which works on every
filesystem, including a ConfigMap mounted as a volume, where files are swapped by renaming a
hidden folder. On a change the whole set is re-read and handed to `Store.replace_all`, so an
object removed from the files is deleted.

A file that fails to parse is not taken as empty: the objects it held last time it parsed stay,
and the error is logged (reliability.md §4.5: never swap to less because a read failed).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from gateway.control.manifests import LoadedObject, load_manifests, manifest_files
from gateway.control.store import Store

logger = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


def folder_signature(paths: Sequence[str]) -> Signature:
    """(file, size, mtime) of every manifest file: equal signatures mean nothing changed."""
    files, _ = manifest_files(paths)
    out = []
    for path in files:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


class ManifestWatcher:
    """Keeps the store equal to the manifest files; sets `changed` after each update."""

    def __init__(
        self, paths: Sequence[str], store: Store, changed: asyncio.Event, interval: float = 0.5
    ) -> None:
        self.paths = [str(Path(p)) for p in paths]
        self.store = store
        self.changed = changed
        self.interval = interval
        self.synced = asyncio.Event()
        """Set once the files have been read the first time."""
        self._signature: Signature | None = None
        self._last_good: dict[str, list[LoadedObject]] = {}

    async def run(self) -> None:
        """Poll forever."""
        while True:
            try:
                await self.poll()
            except Exception:
                logger.exception("reading the manifests failed; the last good state stays")
            await asyncio.sleep(self.interval)

    async def poll(self) -> bool:
        """Re-read the files if they changed; returns whether the store changed."""
        signature = await asyncio.to_thread(folder_signature, self.paths)
        if signature == self._signature:
            return False
        self._signature = signature
        load = await asyncio.to_thread(load_manifests, self.paths)
        failed = set()
        for error in load.errors:
            logger.error("%s", error.text())
            failed.add(error.file)
        by_file: dict[str, list[LoadedObject]] = {}
        for obj in load.objects:
            by_file.setdefault(obj.origin, []).append(obj)
        for file in failed:
            by_file[file] = self._last_good.get(file, [])
        self._last_good = by_file
        objects = [o for file in sorted(by_file) for o in by_file[file]]
        changed = self.store.replace_all((o.key, o.view, o.problems) for o in objects)
        if changed or not self.synced.is_set():
            self.changed.set()
        self.synced.set()
        return changed
