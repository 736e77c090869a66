"""`service-upstream` parsing."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False)])
def test_parse(prefix: str, raw: str, expected: bool) -> None:
    result = parse_all({prefix + "service-upstream": raw})
    assert result.config is not None and result.config.service is expected


def test_invalid() -> None:
    result = parse_all({"nginx.ingress.kubernetes.io/service-upstream": "cluster"})
    assert result.config is None
    [err] = result.errors
    assert "not a boolean" in err.reason
