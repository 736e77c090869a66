"""Ingress class selection (DESIGN.md command-line section, reference §4.7)."""

from __future__ import annotations

import pytest

from routing.classes import ClassSelector, ClassSettings
from routing.convert import convert
from routing.sources import Ingress, IngressClass
from tests.objects import ingress, ingress_class, path, rule

OURS = "ingress-gateway.dev/controller"
LEGACY = "kubernetes.io/ingress.class"


def _ingress(class_name: str | None, legacy: str | None = None) -> Ingress:
    annotations = {LEGACY: legacy} if legacy is not None else {}
    view = convert(
        ingress("i", rule("h", path("/")), class_name=class_name, annotations=annotations)
    ).view
    assert isinstance(view, Ingress)
    return view


def _classes(*objs: dict[str, object]) -> list[IngressClass]:
    views = [convert(o).view for o in objs]
    return [v for v in views if isinstance(v, IngressClass)]


CASES = [
    pytest.param(
        "gateway", None, [("gateway", OURS, False)], {}, True, id="class-object-with-our-controller"
    ),
    pytest.param(
        "gateway",
        None,
        [("gateway", "k8s.io/ingress-nginx", False)],
        {},
        False,
        id="class-object-with-other-controller",
    ),
    pytest.param(
        "custom", None, [("custom", OURS, False)], {}, True, id="any-class-name-with-our-controller"
    ),
    pytest.param("gateway", None, [], {}, True, id="no-class-object-name-equals-flag"),
    pytest.param("nginx", None, [], {}, False, id="no-class-object-other-name"),
    pytest.param("gateway", "nginx", [], {}, True, id="spec-field-beats-annotation"),
    pytest.param(None, "gateway", [], {}, True, id="legacy-annotation-equal"),
    pytest.param(None, "nginx", [], {}, False, id="legacy-annotation-other"),
    pytest.param(
        None,
        "nginx",
        [],
        {"watch_without_class": True},
        False,
        id="legacy-annotation-decides-even-with-watch-without-class",
    ),
    pytest.param(None, None, [], {}, False, id="no-class-ignored-by-default"),
    pytest.param(
        None, None, [], {"watch_without_class": True}, True, id="no-class-with-watch-without-class"
    ),
    pytest.param(
        None, None, [("gateway", OURS, True)], {}, True, id="no-class-with-our-default-class"
    ),
    pytest.param(
        None,
        None,
        [("nginx", "k8s.io/ingress-nginx", True)],
        {},
        False,
        id="no-class-with-someone-elses-default-class",
    ),
    pytest.param("edge", None, [], {"ingress_class": "edge"}, True, id="custom-ingress-class-flag"),
    pytest.param(
        "gateway",
        None,
        [("gateway", "other.dev/ctl", False)],
        {"controller_class": "other.dev/ctl"},
        True,
        id="custom-controller-class-flag",
    ),
]


@pytest.mark.parametrize(("class_name", "legacy", "classes", "settings", "ours"), CASES)
def test_class_selection(
    class_name: str | None,
    legacy: str | None,
    classes: list[tuple[str, str, bool]],
    settings: dict[str, object],
    ours: bool,
) -> None:
    selector = ClassSelector(
        _classes(*(ingress_class(n, c, default=d) for n, c, d in classes)),
        ClassSettings(**settings),  # type: ignore[arg-type]
    )
    assert selector.is_ours(_ingress(class_name, legacy)) is ours
