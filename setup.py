"""Optional: compile the data plane's hot path with mypyc, when `GATEWAY_COMPILE=1`.

Everything else about the package is in pyproject.toml. Without `GATEWAY_COMPILE=1` this adds
nothing, so `pip install .` works without a C compiler. With it, the modules
`gateway.compiled.hot_path()` names are compiled from the same typed source into C extension
modules, and their source digests are recorded (gateway/compiled.py says why). mypyc
type-checks what it compiles, so mypy and the runtime dependencies must be installed: use
scripts/compile (or, for an install, pip's --no-build-isolation, as the Dockerfile does).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from setuptools import setup


def _compiled() -> list[object]:
    if os.environ.get("GATEWAY_COMPILE") != "1":
        return []
    from mypyc.build import mypycify

    # From its file: importing the `gateway` package would check the modules being rebuilt.
    spec = importlib.util.spec_from_file_location("compiled", Path("gateway/compiled.py"))
    assert spec is not None and spec.loader is not None
    compiled = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compiled)
    sources = compiled.hot_path(Path("gateway").resolve())
    extensions: list[object] = mypycify(sources, group_name=compiled.GROUP)
    compiled.write_manifest(sources, Path("gateway").resolve())
    return extensions


setup(ext_modules=_compiled(), package_data={"gateway": ["compiled.json"]})
