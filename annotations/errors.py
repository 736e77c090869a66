"""Named failures of annotation parsing.

An `AnnotationError` always names the full annotation key the user wrote (prefix included) and
why its value was refused, so that `gateway check`, the logs and Kubernetes Events can show it
verbatim: ``nginx.ingress.kubernetes.io/use-regex: "maybe" is not a boolean``.
"""

from __future__ import annotations


class AnnotationError(ValueError):
    """An annotation value that cannot be accepted; the Ingress version carrying it is refused."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
