"""Which of the gateway's modules run compiled, and a guard against stale compiled modules.

The data plane's hot path (`hot_path`) can be compiled with mypyc: the same typed source,
turned into C extension modules, which cut the proxy's CPU per request by about a third (see
bench/RESULTS.md). scripts/compile does it through setup.py, which records in `MANIFEST` the
SHA-256 of each compiled module's source.

Python imports an extension module in preference to the `.py` file beside it, so an edit made
after the build would be silently ignored. `check` runs when the `gateway` package is first
imported, before any compiled module, and refuses to start with a compiled module whose source
has changed since, or one that no manifest accounts for. The compiled routing modules are
guarded too: each loads the group's shared library, which lives in this package, so importing
one imports `gateway` first.

This module imports only the standard library: setup.py and scripts/compile load it from its
file, without importing the package (whose import runs `check`).
"""

from __future__ import annotations

import hashlib
import json
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

PACKAGE = Path(__file__).parent
MANIFEST_NAME = "compiled.json"
"""In the package: {module path relative to the project: source digest}, one per compiled module."""
GROUP = "gateway.hot_path"
"""mypyc's name for the shared library of the compiled modules: `gateway/hot_path__mypyc.*.so`,
inside the package (an editable install puts only the packages on the import path)."""
_SHARED = GROUP.rpartition(".")[2] + "__mypyc"


INTERPRETED = frozenset({"__init__.py", "errors.py"})
"""Proxy modules left out. errors.py: compiled exception classes lose the class attributes
their subclasses inherit (`UpstreamReset().unhealthy` raised AttributeError), and failures are
not the hot path."""


ROUTING = ("frozen.py", "globals.py", "match.py", "model.py", "snapshot.py", "tls.py")
"""The routing modules every request reads: the route model, the matcher, the global settings
and the TLS table. Compiled with the proxy, their fields are struct members to it (a generic
attribute read cost about 160 instructions, and a request made about 60 of them) and the match
runs as C. `routing.frozen` says how their frozen dataclasses still pickle to the workers."""


def hot_path(package: Path = PACKAGE) -> list[str]:
    """What is compiled, relative to the project: the modules that run for every request (the
    proxy, the access log, the traffic metrics, the routing model and matcher). The control
    plane and the route compiler run once per change and stay interpreted."""
    root = package.parent
    proxy = [p for p in (package / "proxy").glob("*.py") if p.name not in INTERPRETED]
    routing = [root / "routing" / name for name in ROUTING]
    paths = [*proxy, package / "accesslog.py", package / "metrics.py", *routing]
    return sorted(p.relative_to(root).as_posix() for p in paths)


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(sources: list[str], package: Path = PACKAGE) -> None:
    root = package.parent
    digests = {source: source_digest(root / source) for source in sources}
    (package / MANIFEST_NAME).write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


def modules(package: Path = PACKAGE) -> dict[str, str]:
    """The compiled modules the manifest lists, with their source digests ({} if none)."""
    manifest = package / MANIFEST_NAME
    if not manifest.exists():
        return {}
    recorded: dict[str, str] = json.loads(manifest.read_text())
    return recorded


def extensions(package: Path = PACKAGE) -> list[Path]:
    """Every extension module inside the package and the `routing` package beside it."""
    folders = (package, package.parent / "routing")
    return sorted(
        {
            p
            for folder in folders
            for suffix in EXTENSION_SUFFIXES
            for p in folder.rglob(f"*{suffix}")
        }
    )


def stale(package: Path = PACKAGE) -> list[str]:
    """Compiled modules that would run something other than their source, by source path."""
    root = package.parent
    recorded = modules(package)
    unlisted = [
        source
        for source in (_source_of(p.relative_to(root).as_posix()) for p in extensions(package))
        if source not in recorded and not source.endswith(f"/{_SHARED}.py")
    ]
    changed = [
        source
        for source, digest in recorded.items()
        if not (root / source).exists() or source_digest(root / source) != digest
    ]
    return sorted(set(unlisted + changed))


def complete(package: Path = PACKAGE) -> bool:
    """Whether the whole hot path is compiled from its current source (scripts/compile)."""
    shared = any(p.name.startswith(f"{_SHARED}.") for p in extensions(package))
    return shared and set(modules(package)) == set(hot_path(package)) and not stale(package)


def check(package: Path = PACKAGE) -> None:
    """ImportError naming each stale compiled module and how to rebuild or remove them."""
    outdated = stale(package)
    if outdated:
        raise ImportError(
            "compiled modules do not match their source: "
            + ", ".join(outdated)
            + ". Rebuild them with scripts/compile, or remove them with scripts/compile"
            " --remove (docs/development.md#compiled-hot-path)"
        )


def _source_of(extension: str) -> str:
    """`gateway/proxy/exchange.cpython-311-x86_64-linux-gnu.so` -> `gateway/proxy/exchange.py`."""
    folder, _, name = extension.rpartition("/")
    return f"{folder}/{name.split('.', 1)[0]}.py"
