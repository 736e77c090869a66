"""Golden files: each folder under `cases/` is a manifest set; `expected.golden.json` is the
routes document it compiles to. Run `scripts/test --update-golden` after an intended change and
review the diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.offline import compile_manifests
from routing.classes import ClassSettings
from routing.document import routes_document

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path, update_golden: bool) -> None:
    load, _, snapshot = compile_manifests([str(case)], ClassSettings())
    assert load.errors == []
    document = (
        json.dumps(routes_document(snapshot, generation=1), indent=2, ensure_ascii=False) + "\n"
    )
    golden = case / "expected.golden.json"
    if update_golden or not golden.exists():
        golden.write_text(document, encoding="utf-8")
        if not update_golden:
            pytest.fail(f"{golden} did not exist; written now, review it and commit it")
    assert document == golden.read_text(encoding="utf-8")
