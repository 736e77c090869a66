"""Snippet annotations refuse the Ingress version, naming the key, under every prefix."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.snippets import SNIPPET_KEYS
from tests.objects import compile_objects, ingress, path, problems, rule


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("key", SNIPPET_KEYS)
def test_every_snippet_key_is_an_error_naming_it(prefix: str, key: str) -> None:
    result = parse_all({prefix + key: "more_set_headers 'X: y';"})
    assert result.config is None
    [error] = result.errors
    assert error.key == prefix + key
    assert "not supported" in error.reason
    assert result.warnings == ()


def test_an_ingress_with_a_snippet_is_not_served_and_the_others_are() -> None:
    snippet = {"nginx.ingress.kubernetes.io/configuration-snippet": "deny all;"}
    snapshot = compile_objects(
        [
            ingress("guarded", rule("h", path("/admin")), annotations=snippet),
            ingress("plain", rule("h", path("/"))),
        ]
    )
    assert [r.ingress for r in snapshot.table.routes] == ["plain"]
    [problem] = [p for p in problems(snapshot) if p.name == "guarded"]
    assert problem.code == "InvalidAnnotation"
    assert "configuration-snippet" in problem.field
