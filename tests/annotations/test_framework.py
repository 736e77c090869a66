"""The annotation framework: prefixes and their priority, validators, errors, unknown keys."""

from __future__ import annotations

import pytest

from annotations import parse_all
from annotations._validators import boolean, uri_path
from annotations.canary import Canary
from annotations.rewrite import Rewrite

N, M, H = "nginx.ingress.kubernetes.io/", "mse.ingress.kubernetes.io/", "higress.io/"


@pytest.mark.parametrize(
    ("annotations", "use_regex"),
    [
        pytest.param({N + "use-regex": "true"}, True, id="nginx-prefix"),
        pytest.param({M + "use-regex": "true"}, True, id="mse-prefix"),
        pytest.param({H + "use-regex": "true"}, True, id="higress-prefix"),
        pytest.param(
            {N + "use-regex": "false", M + "use-regex": "true"}, False, id="nginx-beats-mse"
        ),
        pytest.param(
            {M + "use-regex": "false", H + "use-regex": "true"}, False, id="mse-beats-higress"
        ),
        pytest.param(
            {N + "use-regex": "true", H + "use-regex": "bogus"},
            True,
            id="losing-prefix-not-validated",
        ),
    ],
)
def test_prefix_priority(annotations: dict[str, str], use_regex: bool) -> None:
    result = parse_all(annotations)
    assert result.errors == ()
    assert result.config is not None and result.config.rewrite == Rewrite(use_regex, None)


@pytest.mark.parametrize("raw", ["true", "True", "TRUE", "1", "t", "T", " true "])
def test_boolean_true_spellings(raw: str) -> None:
    assert boolean(raw) is True


@pytest.mark.parametrize("raw", ["false", "False", "FALSE", "0", "f", "F"])
def test_boolean_false_spellings(raw: str) -> None:
    assert boolean(raw) is False


@pytest.mark.parametrize("raw", ["yes", "", "on", "2", "truee"])
def test_boolean_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        boolean(raw)


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        pytest.param("/", True, id="root"),
        pytest.param("/$1", True, id="group"),
        pytest.param("$1", True, id="bare-group"),
        pytest.param("/a/$2/b", True, id="inner-group"),
        pytest.param("", False, id="empty"),
        pytest.param("foo", False, id="relative"),
        pytest.param("/a b", False, id="space"),
        pytest.param("/a\r\nX-Injected: 1", False, id="rejects-crlf"),
        pytest.param("http://x/", False, id="absolute-url"),
    ],
)
def test_uri_path_validator(raw: str, ok: bool) -> None:
    if ok:
        assert uri_path(raw) == raw.strip()
    else:
        with pytest.raises(ValueError):
            uri_path(raw)


def test_rewrite_target_implies_regex() -> None:
    config = parse_all({N + "rewrite-target": "/$1"}).config
    assert config is not None and config.rewrite == Rewrite(use_regex=True, target="/$1")


def test_absent_groups_are_none() -> None:
    config = parse_all({}).config
    assert config is not None and config.rewrite is None and config.canary is None


def test_canary_false_is_not_a_canary() -> None:
    assert parse_all({N + "canary": "false"}).config.canary is None  # type: ignore[union-attr]
    assert parse_all({N + "canary": "true"}).config.canary == Canary()  # type: ignore[union-attr]


def test_every_invalid_value_is_reported_with_its_exact_key() -> None:
    result = parse_all({H + "use-regex": "maybe", M + "canary": "perhaps"})
    assert result.config is None
    assert sorted(e.key for e in result.errors) == sorted([M + "canary", H + "use-regex"])
    assert all("not a boolean" in e.reason for e in result.errors)


def test_unknown_keys_under_our_prefixes_are_warnings_only() -> None:
    result = parse_all(
        {N + "no-such-thing": "1", "example.com/other": "x", N + "use-regex": "true"}
    )
    assert result.config is not None
    assert [w.key for w in result.warnings] == [N + "no-such-thing"]


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        pytest.param("/$1/$2", True, id="groups"),
        pytest.param("/static", True, id="literal"),
        pytest.param("/$scheme/x", False, id="nginx-variable"),
        pytest.param("/$0", False, id="group-zero"),
        pytest.param("/x$", False, id="dangling-dollar"),
    ],
)
def test_rewrite_target_allows_only_capture_groups(target: str, ok: bool) -> None:
    result = parse_all({N + "rewrite-target": target})
    assert (result.config is not None) is ok
    if not ok:
        assert "only capture groups" in result.errors[0].reason


def test_no_key_of_ours_is_the_default_of_every_group() -> None:
    """The shortcut for Ingresses without our keys gives what parsing every group gives."""
    from annotations.registry import GROUPS, IngressAnnotations

    assert all(group.parse({}) is None for group in GROUPS)
    result = parse_all({"kubernetes.io/ingress.class": "nginx", "example.com/x": "1"})
    assert result.config == IngressAnnotations() and not result.errors and not result.warnings
