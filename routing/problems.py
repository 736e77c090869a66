"""Problems: named, located reasons why part of the cluster state is not served as written.

`error` means something the user wrote is not served (a refused Ingress version, a path that lost
a conflict); `warning` means it is served but deserves a look (a missing Service answers 503, an
unknown annotation has no effect). `gateway check` exits 1 on any error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One problem on one object: ``Ingress shop/web: spec.rules[0].host: is not a DNS name``."""

    kind: str
    namespace: str
    name: str
    field: str
    reason: str
    severity: Severity = "error"
    code: str = "Invalid"
    """A short CamelCase reason, as a Kubernetes Event's `reason` (InvalidAnnotation, …)."""

    @property
    def object_ref(self) -> str:
        """``Kind namespace/name`` (``Kind name`` for cluster-scoped objects)."""
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"

    def line(self) -> str:
        """The problem as `gateway check` prints it, without the file."""
        return f"{self.severity}: {self.object_ref}: {self.field}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        """The problem as `/debug/routes` and `gateway routes --json` show it."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "field": self.field,
            "reason": self.reason,
            "code": self.code,
        }
