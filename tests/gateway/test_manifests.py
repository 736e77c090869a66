"""The manifest-file source: recursion, order, namespaces, List, hidden entries, bad files."""

from __future__ import annotations

from pathlib import Path

from gateway.control.manifests import load_manifests

INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}{ns}}}
spec:
  ingressClassName: gateway
  rules: [{{host: h, http: {{paths: [{{path: /{name}, pathType: Prefix,
    backend: {{service: {{name: s, port: {{number: 80}}}}}}}}]}}}}]
"""


def _ingress(name: str, namespace: str | None = None) -> str:
    return INGRESS.format(name=name, ns=f", namespace: {namespace}" if namespace else "")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_folder_is_read_recursively_in_path_order(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "b.yaml": _ingress("second"),
            "a/z.yml": _ingress("first"),
            "c/d/e.json": '{"kind": "Service", "metadata": {"name": "s"}, '
            '"spec": {"ports": [{"port": 80}]}}',
            "notes.txt": "not a manifest",
        },
    )
    load = load_manifests([tmp_path])
    assert load.errors == []
    assert [o.key for o in load.objects] == [
        ("Ingress", "default", "first"),
        ("Ingress", "default", "second"),
        ("Service", "default", "s"),
    ]
    positions = [o.view.meta.position for o in load.objects if o.view]
    assert positions == sorted(positions)


def test_multi_document_files_and_lists(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "all.yaml": _ingress("one", "ns1")
            + "---\n"
            + """\
kind: List
items:
  - {kind: ConfigMap, metadata: {name: cm}, data: {a: "1"}}
  - {kind: Deployment, metadata: {name: ignored}}
---
---
kind: Secret
metadata: {name: sec, namespace: ns2}
stringData: {key: value}
"""
        },
    )
    load = load_manifests([tmp_path / "all.yaml"])
    assert [o.key for o in load.objects] == [
        ("Ingress", "ns1", "one"),
        ("ConfigMap", "default", "cm"),
        ("Secret", "ns2", "sec"),
    ]


def test_hidden_entries_are_skipped(tmp_path: Path) -> None:
    """A ConfigMap volume shows every file twice: once under the hidden `..data` folder."""
    _write(
        tmp_path,
        {
            "..2024_01_01/x.yaml": _ingress("dup"),
            ".hidden.yaml": _ingress("dup2"),
            "x.yaml": _ingress("real"),
        },
    )
    assert [o.key[2] for o in load_manifests([tmp_path]).objects] == ["real"]


def test_bad_yaml_names_file_line_and_column_and_others_still_load(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "bad.yaml": "kind: Ingress\nmetadata:\n  name: x\n   oops: [\n",
            "good.yaml": _ingress("ok"),
        },
    )
    load = load_manifests([tmp_path])
    [error] = load.errors
    assert error.file.endswith("bad.yaml") and error.line is not None and error.line >= 3
    assert error.text().startswith(f"{error.file}: error: line {error.line}, column ")
    assert "YAML" in error.reason
    assert [o.key[2] for o in load.objects] == ["ok"]


def test_bad_json_names_line(tmp_path: Path) -> None:
    _write(tmp_path, {"x.json": '{\n  "kind": "Service",\n  oops\n}'})
    [error] = load_manifests([tmp_path]).errors
    assert (error.line, error.reason.startswith("JSON")) == (3, True)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    [error] = load_manifests([tmp_path / "nope"]).errors
    assert "no such file" in error.reason


def test_duplicate_object_later_definition_wins_with_a_warning(tmp_path: Path) -> None:
    _write(tmp_path, {"a.yaml": _ingress("same"), "b.yaml": _ingress("same")})
    load = load_manifests([tmp_path])
    assert [o.origin.endswith("b.yaml") for o in load.objects] == [False, True]
    [problem] = load.objects[1].problems
    assert problem.severity == "warning" and "defined again" in problem.reason


def test_file_edited_to_an_invalid_value_keeps_the_last_accepted_version(tmp_path: Path) -> None:
    """DESIGN.md invariant 4 through the file source: reload after a bad edit, then a deletion."""
    from gateway.control.store import Store
    from routing.compile import compile_snapshot

    def reload(store: Store) -> list[str]:
        load = load_manifests([tmp_path])
        store.replace_all((o.key, o.view, o.problems) for o in load.objects)
        return [r.path for r in compile_snapshot(store.state()).table.routes]

    store = Store()
    _write(tmp_path, {"web.yaml": _ingress("v1"), "other.yaml": _ingress("other")})
    assert reload(store) == ["/other", "/v1"]
    bad = (
        _ingress("v1")
        .replace(
            "metadata: {name: v1}",
            "metadata: {name: v1, annotations: {nginx.ingress.kubernetes.io/use-regex: nope}}",
        )
        .replace("/v1", "/v2")
    )
    _write(tmp_path, {"web.yaml": bad})
    assert reload(store) == ["/other", "/v1"]
    assert any("not a boolean" in p.reason for p in store.state().problems)
    (tmp_path / "web.yaml").unlink()
    assert reload(store) == ["/other"]
    assert store.state().problems == ()
