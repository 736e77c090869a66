"""A served Ingress whose `spec.tls` Secret is missing or not a certificate gets a
`MissingSecret` warning (issue #4 §6); Ingresses that are not ours are not checked."""

from __future__ import annotations

import base64
from typing import Any

from tests.objects import compile_objects, ingress, path, problems, rule


def _with_tls(obj: dict[str, Any], secret: str) -> dict[str, Any]:
    obj["spec"]["tls"] = [{"hosts": ["h"], "secretName": secret}]
    return obj


def _secret(name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    return {
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "type": "kubernetes.io/tls",
        "data": {k: base64.b64encode(b"x").decode() for k in keys},
    }


def _missing(objects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (p.name, p.field, p.reason)
        for p in problems(compile_objects(objects))
        if p.code == "MissingSecret"
    ]


def test_missing_and_incomplete_tls_secrets_are_reported() -> None:
    objects = [
        _with_tls(ingress("a", rule("h", path("/"))), "absent"),
        _with_tls(ingress("b", rule("h", path("/b"))), "no-key"),
        _with_tls(ingress("c", rule("h", path("/c"))), "good"),
        _secret("no-key", ("tls.crt",)),
        _secret("good", ("tls.crt", "tls.key")),
    ]
    assert _missing(objects) == [
        ("a", "spec.tls[0].secretName", "Secret default/absent does not exist"),
        ("b", "spec.tls[0].secretName", "Secret default/no-key has no tls.crt and tls.key"),
    ]


def test_ingresses_of_another_class_are_not_checked() -> None:
    objects = [_with_tls(ingress("a", rule("h", path("/")), class_name="other"), "absent")]
    assert _missing(objects) == []
