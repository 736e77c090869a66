"""`docs/annotations.md` is generated from the field tables and must be current."""

from __future__ import annotations

from pathlib import Path

from annotations.docs import render
from annotations.registry import GROUPS

DOC = Path(__file__).resolve().parents[2] / "docs" / "annotations.md"


def test_annotations_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/annotations.md is stale: run `python -m annotations > docs/annotations.md`"
    )


def test_every_field_is_documented() -> None:
    text = render()
    for group in GROUPS:
        for field in group.fields:
            assert f"`{field.name}`" in text
            assert field.doc and field.value_format
