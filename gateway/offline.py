"""`gateway routes` and `gateway check`: compile manifests once and show the result."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TextIO

from gateway.control.manifests import ManifestLoad, load_manifests
from gateway.control.store import Store
from routing.classes import ClassSelector, ClassSettings
from routing.compile import CompileSettings, compile_snapshot
from routing.document import routes_document
from routing.problems import Problem
from routing.snapshot import Snapshot
from routing.sources import Ingress


def compile_manifests(
    paths: Sequence[str], classes: ClassSettings
) -> tuple[ManifestLoad, Store, Snapshot]:
    """Read manifests, admit them through a store and compile one snapshot."""
    load = load_manifests(paths)
    store = Store()
    store.replace_all((o.key, o.view, o.problems) for o in load.objects)
    snapshot = compile_snapshot(store.state(), CompileSettings(classes=classes))
    return load, store, snapshot


def problem_line(problem: Problem, origins: dict[tuple[str, str, str], str], default: str) -> str:
    """``FILE: error|warning: Kind namespace/name: field: reason``."""
    origin = origins.get((problem.kind, problem.namespace, problem.name), default)
    return f"{origin}: {problem.line()}"


def _table(snapshot: Snapshot, out: TextIO) -> None:
    header = ("HOST", "PATH", "MATCH", "BACKEND", "ENDPOINTS", "INGRESS")
    rows = [header]
    for route in snapshot.table.routes:
        endpoints = snapshot.endpoints.get(route.backend, ())
        path = route.path + (f" → {route.rewrite.target}" if route.rewrite else "")
        rows.append(
            (
                route.host or "*",
                "(default backend)" if route.is_default_backend else path,
                route.match,
                f"{route.service}:{route.port}",
                ",".join(e.hostport for e in endpoints) or "(none: 503)",
                f"{route.namespace}/{route.ingress}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def run_routes(paths: Sequence[str], classes: ClassSettings, *, as_json: bool) -> int:
    """Print the compiled route table (and problems); exit 1 when a file could not be read."""
    load, _, snapshot = compile_manifests(paths, classes)
    if as_json:
        json.dump(routes_document(snapshot, generation=1), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _table(snapshot, sys.stdout)
        if snapshot.problems or load.errors:
            sys.stdout.write("\nproblems:\n")
        origins = load.origins()
        for error in load.errors:
            sys.stdout.write(error.text() + "\n")
        for problem in snapshot.problems:
            sys.stdout.write(problem_line(problem, origins, paths[0]) + "\n")
    for error in load.errors if as_json else ():
        sys.stderr.write(error.text() + "\n")
    return 1 if load.errors else 0


def run_check(paths: Sequence[str], classes: ClassSettings) -> int:
    """Print one line per problem; exit 1 when any is an error (bad YAML included)."""
    load, store, snapshot = compile_manifests(paths, classes)
    origins = load.origins()
    for error in load.errors:
        sys.stdout.write(error.text() + "\n")
    for problem in snapshot.problems:
        sys.stdout.write(problem_line(problem, origins, paths[0]) + "\n")
    selector = ClassSelector(store.state().ingress_classes, classes)
    ingresses = [o for o in load.objects if o.key[0] == "Ingress"]
    ours = sum(1 for o in ingresses if isinstance(o.view, Ingress) and selector.is_ours(o.view))
    unusable = sum(1 for o in ingresses if o.view is None)
    errors = len(load.errors) + sum(p.severity == "error" for p in snapshot.problems)
    warnings = sum(p.severity == "warning" for p in snapshot.problems)
    sys.stderr.write(
        f"checked {len(load.files)} files, {len(load.objects)} objects, {len(ingresses)} "
        f"Ingresses: {ours} of class {classes.ingress_class!r}, {unusable} unusable; "
        f"{errors} error(s), {warnings} warning(s)\n"
    )
    return 1 if errors else 0
