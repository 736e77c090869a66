"""Which Ingresses are ours: ingress-nginx's class rules (reference §4.7, DESIGN.md).

1. `spec.ingressClassName` decides when set: ours when that IngressClass exists and names our
   controller, or, when no IngressClass of that name exists (typical in file mode), when the
   name equals our `--ingress-class`.
2. Otherwise the legacy `kubernetes.io/ingress.class` annotation decides when present: it must
   equal our `--ingress-class`.
3. Otherwise the Ingress is ours only with `--watch-ingress-without-class`, or when one of our
   IngressClasses is marked as the cluster default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from routing.sources import Ingress, IngressClass

LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


@dataclass(frozen=True, slots=True)
class ClassSettings:
    """The class flags of `gateway run`, `routes` and `check`."""

    ingress_class: str = "gateway"
    controller_class: str = "ingress-gateway.dev/controller"
    watch_without_class: bool = False


class ClassSelector:
    """Answers `is_ours(ingress)` for one set of IngressClasses and settings."""

    def __init__(self, classes: Iterable[IngressClass], settings: ClassSettings) -> None:
        self._settings = settings
        self._classes = {c.meta.name: c for c in classes}
        self._default_is_ours = any(
            c.is_default and c.controller == settings.controller_class
            for c in self._classes.values()
        )

    def is_ours(self, ingress: Ingress) -> bool:
        """Whether this gateway serves `ingress`."""
        settings = self._settings
        if ingress.class_name is not None:
            known = self._classes.get(ingress.class_name)
            if known is not None:
                return known.controller == settings.controller_class
            return ingress.class_name == settings.ingress_class
        legacy = (ingress.meta.annotations or {}).get(LEGACY_CLASS_ANNOTATION)
        if legacy:
            return legacy == settings.ingress_class
        return settings.watch_without_class or self._default_is_ours
