"""The store: DESIGN.md invariant 4 (last accepted version keeps serving) and deletions."""

from __future__ import annotations

from unittest import mock

from gateway.control.store import Store
from routing.compile import compile_snapshot
from routing.convert import convert
from tests.objects import ingress, path, rule

BAD = {"nginx.ingress.kubernetes.io/use-regex": "sometimes"}


def _apply(store: Store, obj: dict[str, object]) -> bool:
    converted = convert(obj, default_namespace="default")
    assert converted.view is not None
    return store.apply(converted.view.meta.key, converted.view, converted.problems)


def _paths(store: Store) -> list[str]:
    return [f"{r.ingress}{r.path}" for r in compile_snapshot(store.state()).table.routes]


def test_invalid_new_version_keeps_the_last_accepted_one_serving() -> None:
    store = Store()
    _apply(store, ingress("web", rule("h", path("/v1")), resource_version="1"))
    _apply(store, ingress("other", rule("h", path("/other")), resource_version="1"))
    _apply(store, ingress("web", rule("h", path("/v2")), annotations=BAD, resource_version="2"))
    assert _paths(store) == ["other/other", "web/v1"]
    problems = store.state().problems
    assert {(p.name, p.severity) for p in problems} == {("web", "error"), ("web", "warning")}
    assert any("use-regex" in p.field and "not a boolean" in p.reason for p in problems)
    assert any("last accepted version keeps serving" in p.reason for p in problems)


def test_valid_version_after_a_bad_one_replaces_it_and_clears_problems() -> None:
    store = Store()
    _apply(store, ingress("web", rule("h", path("/v1")), resource_version="1"))
    _apply(store, ingress("web", rule("h", path("/v2")), annotations=BAD, resource_version="2"))
    _apply(store, ingress("web", rule("h", path("/v3")), resource_version="3"))
    assert _paths(store) == ["web/v3"]
    assert store.state().problems == ()


def test_invalid_first_version_serves_nothing() -> None:
    store = Store()
    _apply(store, ingress("web", rule("h", path("/v1")), annotations=BAD, resource_version="1"))
    assert _paths(store) == []
    assert [p.severity for p in store.state().problems] == ["error"]


def test_unusable_object_keeps_last_good_view() -> None:
    store = Store()
    _apply(store, ingress("web", rule("h", path("/v1")), resource_version="1"))
    broken = ingress("web", rule("h", path("no-slash")), resource_version="2")
    converted = convert(broken, default_namespace="default")
    assert converted.view is None
    store.apply(("Ingress", "default", "web"), None, converted.problems)
    assert _paths(store) == ["web/v1"]
    assert any("keeps serving" in p.reason for p in store.state().problems)


def test_annotations_are_parsed_once_per_version() -> None:
    store = Store()
    obj = ingress(
        "web",
        rule("h", path("/")),
        annotations={"nginx.ingress.kubernetes.io/use-regex": "true"},
        resource_version="5",
    )
    with mock.patch(
        "gateway.control.store.admit", wraps=__import__("routing.admission").admission.admit
    ) as admit:
        _apply(store, obj)
        assert _apply(store, obj) is False
        assert admit.call_count == 1
        _apply(store, {**obj, "metadata": {**obj["metadata"], "resourceVersion": "6"}})  # type: ignore[dict-item]
        assert admit.call_count == 2


def test_delete_forgets_object_and_its_problems() -> None:
    store = Store()
    _apply(store, ingress("web", rule("h", path("/")), annotations=BAD))
    assert store.state().problems
    assert store.delete(("Ingress", "default", "web")) is True
    assert store.state().problems == ()
    assert store.delete(("Ingress", "default", "web")) is False


def test_replace_all_deletes_what_disappeared_and_reports_no_change_when_equal() -> None:
    store = Store()
    a = convert(ingress("a", rule("h", path("/a"))), default_namespace="default")
    b = convert(ingress("b", rule("h", path("/b"))), default_namespace="default")
    items = [(v.view.meta.key, v.view, v.problems) for v in (a, b)]  # type: ignore[union-attr]
    assert store.replace_all(items) is True
    state = store.state()
    assert store.replace_all(items) is False
    assert store.state() is state
    assert store.replace_all(items[:1]) is True
    assert _paths(store) == ["a/a"]
