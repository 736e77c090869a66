"""The compiled hot path (gateway/compiled.py): the guard against stale compiled modules, and
that the suite runs what ships.

A compiled module is imported in preference to the `.py` beside it, so an edit after a build
would be silently ignored: the guard must name every such module, and `import gateway` must
refuse to go on.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from gateway import compiled

SUFFIX = EXTENSION_SUFFIXES[0]


def _package(tmp_path: Path) -> Path:
    """A package laid out like `gateway`: one compiled module, its manifest, and an
    interpreted one."""
    package = tmp_path / "gateway"
    (package / "proxy").mkdir(parents=True)
    (package / "proxy" / "fast.py").write_text("x = 1\n")
    (package / "proxy" / f"fast{SUFFIX}").write_bytes(b"not really compiled")
    (package / "proxy" / "slow.py").write_text("y = 2\n")
    (package / f"hot_path__mypyc{SUFFIX}").write_bytes(b"the shared library: no source")
    compiled.write_manifest(["gateway/proxy/fast.py"], package)
    return package


def test_a_build_that_matches_its_source_passes(tmp_path: Path) -> None:
    package = _package(tmp_path)
    assert compiled.stale(package) == []
    compiled.check(package)
    assert list(compiled.modules(package)) == ["gateway/proxy/fast.py"]
    assert not compiled.complete(package)  # not the whole hot path
    hot = compiled.hot_path(package)
    for source in hot:
        (tmp_path / source).parent.mkdir(exist_ok=True)
        (tmp_path / source).write_text(f"# {source}\n")
        (tmp_path / source).with_suffix(SUFFIX).write_bytes(b"compiled too")
    compiled.write_manifest(hot, package)
    assert compiled.complete(package)
    (package / f"hot_path__mypyc{SUFFIX}").unlink()
    assert not compiled.complete(package)  # the modules cannot load without it


def test_an_edit_after_the_build_is_named(tmp_path: Path) -> None:
    package = _package(tmp_path)
    (package / "proxy" / "fast.py").write_text("x = 2\n")
    with pytest.raises(ImportError, match=r"do not match their source: gateway/proxy/fast\.py\."):
        compiled.check(package)


def test_a_compiled_module_the_manifest_does_not_list_is_named(tmp_path: Path) -> None:
    package = _package(tmp_path)
    (package / "proxy" / f"slow{SUFFIX}").write_bytes(b"left from another build")
    assert compiled.stale(package) == ["gateway/proxy/slow.py"]
    (package / compiled.MANIFEST_NAME).unlink()
    assert compiled.stale(package) == ["gateway/proxy/fast.py", "gateway/proxy/slow.py"]


def test_compiled_routing_modules_are_guarded_too(tmp_path: Path) -> None:
    """The route model and the matcher are compiled with the proxy, beside it in `routing`."""
    package = _package(tmp_path)
    routing = tmp_path / "routing"
    routing.mkdir()
    (routing / "match.py").write_text("z = 1\n")
    (routing / f"match{SUFFIX}").write_bytes(b"compiled")
    assert compiled.stale(package) == ["routing/match.py"]  # not in the manifest
    compiled.write_manifest(["gateway/proxy/fast.py", "routing/match.py"], package)
    assert compiled.stale(package) == []
    (routing / "match.py").write_text("z = 2\n")
    assert compiled.stale(package) == ["routing/match.py"]


def test_a_deleted_source_is_named(tmp_path: Path) -> None:
    package = _package(tmp_path)
    (package / "proxy" / "fast.py").unlink()
    assert compiled.stale(package) == ["gateway/proxy/fast.py"]


def test_importing_the_package_refuses_a_stale_build(tmp_path: Path) -> None:
    """The wiring: `gateway/__init__.py` runs the check before anything else is imported."""
    package = _package(tmp_path)
    for name in ("__init__.py", "compiled.py"):
        shutil.copy(Path(compiled.__file__).parent / name, package / name)
    python = [sys.executable, "-c", "import gateway"]
    assert subprocess.run(python, cwd=tmp_path, capture_output=True, check=False).returncode == 0
    (package / "proxy" / "fast.py").write_text("x = 3\n")
    failed = subprocess.run(python, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert "ImportError: compiled modules do not match their source: gateway/proxy/fast.py" in (
        failed.stderr
    )


def test_the_hot_path_is_compiled_unless_asked_not_to() -> None:
    """scripts/setup compiles it unless GATEWAY_COMPILE=0, and the images ship it compiled:
    the suite must exercise that form."""
    if os.environ.get("GATEWAY_COMPILE") == "0":
        pytest.skip("GATEWAY_COMPILE=0: the hot path runs interpreted")
    hot = compiled.hot_path()
    assert sorted(compiled.modules()) == hot
    assert compiled.complete()
    for source in hot:
        module = importlib.import_module(source.removesuffix(".py").replace("/", "."))
        assert module.__file__ is not None and module.__file__.endswith(SUFFIX), source


def test_each_compiled_module_imports_on_its_own() -> None:
    """A compiled dataclass whose field names a compiled class imported only for type checking
    crashed its import (docs/development.md): import each module first in a fresh process."""
    imports = {
        source: subprocess.Popen(
            [sys.executable, "-c", f"import {source.removesuffix('.py').replace('/', '.')}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for source in compiled.hot_path()
    }
    failed = {}
    for source, process in imports.items():
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failed[source] = (process.returncode, stderr.decode()[-300:])
    assert failed == {}
