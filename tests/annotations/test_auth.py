"""Basic-auth annotations (reference §1H): what an Ingress asks for, and values that refuse it."""

from __future__ import annotations

import pytest

from annotations import parse_all
from annotations.auth import Authentication, BasicAuth

N = "nginx.ingress.kubernetes.io/"


def parsed(annotations: dict[str, str]) -> Authentication | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.auth


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="nothing"),
        pytest.param(
            {N + "auth-type": "basic", N + "auth-secret": "users"},
            Authentication(BasicAuth((None, "users"), auth_map=False, realm="")),
            id="basic, Secret in the Ingress's namespace",
        ),
        pytest.param(
            {
                N + "auth-type": "basic",
                N + "auth-secret": "shared/users",
                N + "auth-secret-type": "auth-map",
                N + "auth-realm": "Staff only",
                N + "satisfy": "any",
            },
            Authentication(BasicAuth(("shared", "users"), True, "Staff only"), satisfy_any=True),
            id="every key",
        ),
    ],
)
def test_what_an_ingress_asks_for(annotations: dict[str, str], expected: object) -> None:
    assert parsed(annotations) == expected


@pytest.mark.parametrize(
    ("annotations", "key"),
    [
        ({N + "auth-type": "digest", N + "auth-secret": "users"}, "auth-type"),
        ({N + "auth-type": "ntlm", N + "auth-secret": "users"}, "auth-type"),
        ({N + "auth-type": "basic"}, "auth-type"),
        ({N + "auth-type": "basic", N + "auth-secret": "Users!"}, "auth-secret"),
        ({N + "auth-type": "basic", N + "auth-secret": "u", N + "auth-secret-type": "x"},
         "auth-secret-type"),
        ({N + "auth-type": "basic", N + "auth-secret": "u", N + "auth-realm": 'a"b'},
         "auth-realm"),
        ({N + "auth-type": "basic", N + "auth-secret": "u", N + "satisfy": "some"}, "satisfy"),
    ],
)  # fmt: skip
def test_an_invalid_value_refuses_the_version(annotations: dict[str, str], key: str) -> None:
    result = parse_all(annotations)
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key


def test_a_secret_without_auth_type_is_a_warning() -> None:
    result = parse_all({N + "auth-secret": "users"})
    assert result.config is not None and result.config.auth is None
    [warning] = result.warnings
    assert warning.key == N + "auth-secret" and "auth-type" in warning.reason
