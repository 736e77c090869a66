"""The manifest-file source: a file or folder of YAML/JSON read as the whole cluster state.

Rules (DESIGN.md, command-line contract): folders are read recursively (`*.yaml`, `*.yml`,
`*.json`) in path order; files may hold several documents and `kind: List`; objects without a
namespace go to `default`; unknown kinds are ignored. Each object's position in that order is
its age when it has no creationTimestamp. Hidden entries (names starting with `.`) are skipped:
a ConfigMap mounted as a volume shows every file twice, once under `..data/`.

Bad input never raises: a file that does not parse is a `FileError` naming the file, line and
column, and the other files still load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from routing.convert import KINDS, convert
from routing.problems import Problem
from routing.sources import View

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class FileError:
    """A file that could not be read or parsed."""

    file: str
    reason: str
    line: int | None = None
    column: int | None = None

    def text(self) -> str:
        """``FILE: error: YAML: line L, column C: reason`` (the `gateway check` line)."""
        where = f"line {self.line}, column {self.column}: " if self.line is not None else ""
        return f"{self.file}: error: {where}{self.reason}"


@dataclass(frozen=True, slots=True)
class LoadedObject:
    """One object of a kind we read: its view (None when unusable) and its problems."""

    key: tuple[str, str, str]
    view: View | None
    problems: tuple[Problem, ...]
    origin: str


@dataclass(slots=True)
class ManifestLoad:
    """Everything one read of the manifests produced."""

    objects: list[LoadedObject] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def origins(self) -> dict[tuple[str, str, str], str]:
        """(kind, namespace, name) → the file that defined it, for locating problems."""
        return {o.key: o.origin for o in self.objects}


def manifest_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[FileError]]:
    """The files to read, in path order, and the paths that do not exist."""
    files: list[Path] = []
    errors: list[FileError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in SUFFIXES
                    and p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            errors.append(FileError(str(path), "no such file or directory"))
    return files, errors


def _documents(path: Path, text: str) -> list[object]:
    if path.suffix == ".json":
        return [json.loads(text)]
    return list(yaml.safe_load_all(text))


def _parse_error(path: Path, err: Exception) -> FileError:
    if isinstance(err, json.JSONDecodeError):
        return FileError(str(path), f"JSON: {err.msg}", err.lineno, err.colno)
    mark = getattr(err, "problem_mark", None)
    reason = getattr(err, "problem", None) or str(err)
    if mark is not None:
        return FileError(str(path), f"YAML: {reason}", mark.line + 1, mark.column + 1)
    return FileError(str(path), f"YAML: {reason}")


def _objects(document: object) -> Iterable[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return
    if document.get("kind") == "List" and isinstance(document.get("items"), list):
        for item in document["items"]:
            yield from _objects(item)
    elif document.get("kind") in KINDS:
        yield document


def load_manifests(paths: Iterable[str | Path]) -> ManifestLoad:
    """Read every manifest under `paths` and convert the objects of the kinds we use."""
    files, errors = manifest_files(paths)
    load = ManifestLoad(errors=errors, files=[str(f) for f in files])
    seen: dict[tuple[str, str, str], str] = {}
    position = 0
    for path in files:
        try:
            documents = _documents(path, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            load.errors.append(FileError(str(path), f"cannot read: {err}"))
            continue
        except (yaml.YAMLError, json.JSONDecodeError) as err:
            load.errors.append(_parse_error(path, err))
            continue
        for document in documents:
            for obj in _objects(document):
                position += 1
                converted = convert(
                    obj, position=position, origin=str(path), default_namespace=DEFAULT_NAMESPACE
                )
                key = _key(obj, converted.view)
                problems = converted.problems
                if key in seen:
                    problems += (
                        Problem(
                            key[0],
                            key[1],
                            key[2],
                            "metadata.name",
                            f"is defined again (first in {seen[key]}); "
                            "this later definition is used",
                            "warning",
                            "DuplicateObject",
                        ),
                    )
                seen[key] = str(path)
                load.objects.append(LoadedObject(key, converted.view, problems, str(path)))
    return load


def _key(obj: Mapping[str, Any], view: View | None) -> tuple[str, str, str]:
    if view is not None:
        return view.meta.key
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    kind = str(obj.get("kind"))
    namespace = "" if kind == "IngressClass" else str(meta.get("namespace") or DEFAULT_NAMESPACE)
    return (kind, namespace, str(meta.get("name") or ""))
