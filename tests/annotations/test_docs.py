"""`docs/annotations.md` is generated from the field tables and must be current."""

from __future__ import annotations

from pathlib import Path

from annotations.docs import coverage_sentence, render
from annotations.registry import GROUPS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "annotations.md"


def test_annotations_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/annotations.md is stale: run `python -m annotations > docs/annotations.md`"
    )


def test_every_field_is_documented() -> None:
    text = render()
    for group in GROUPS:
        for field in group.fields:
            assert f"`{field.name}`".replace("|", "\\|") in text  # as a table cell
            assert field.doc and field.value_format


def test_readme_states_the_current_coverage() -> None:
    assert coverage_sentence() in (ROOT / "README.md").read_text(encoding="utf-8"), (
        f"README.md must say: {coverage_sentence()}"
    )
