"""Basic authentication: a user name and password checked against a Secret (reference §1H).

`auth-type: basic` with `auth-secret` (`name` or `namespace/name`) asks every request of the
Ingress for credentials; missing or wrong ones get 401 with `WWW-Authenticate: Basic
realm="<auth-realm>"`. The Secret is an htpasswd file under the key `auth`
(`auth-secret-type: auth-file`, the default) or one key per user whose value is the hash
(`auth-map`). `satisfy: any` lets a request through when either the IP lists or the
authentication accept it, instead of both (nginx's `satisfy`).

`auth-type: digest` is refused: the gateway does not implement digest authentication, and an
Ingress that asks for authentication must never be served without it (DESIGN invariant 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, typed_value, value_of
from annotations._validators import object_reference, one_of
from annotations.errors import AnnotationError


def _auth_type(raw: str) -> str:
    value = raw.strip().lower()
    if value == "digest":
        raise ValueError(
            "digest authentication is not supported; use basic (the Ingress is not served "
            "rather than served without authentication)"
        )
    if value != "basic":
        raise ValueError(f"{raw!r} is not basic")
    return value


def _realm(raw: str) -> str:
    """Any text without control characters or double quotes (it is quoted in a header)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise ValueError(f"{raw!r} contains control characters")
    if '"' in raw or "\\" in raw:
        raise ValueError(f"{raw!r} contains a double quote or a backslash")
    return raw.strip()


AUTH_TYPE = Field(
    "auth-type",
    _auth_type,
    default=None,
    value_format="`basic`",
    doc="Ask for a user name and password checked against `auth-secret`; 401 otherwise.",
)
AUTH_SECRET = Field(
    "auth-secret",
    object_reference("Secret"),
    default=None,
    value_format="Secret `name` or `namespace/name`",
    doc="The Secret holding the users and their password hashes.",
)
AUTH_SECRET_TYPE = Field(
    "auth-secret-type",
    one_of("auth-file", "auth-map"),
    default="auth-file",
    value_format="`auth-file` or `auth-map`",
    doc="`auth-file`: htpasswd lines under the key `auth` (bcrypt, apr1, SHA1, crypt, "
    "SHA-256/512-crypt); `auth-map`: one key per user, the hash as its value.",
)
AUTH_REALM = Field(
    "auth-realm",
    _realm,
    default="",
    value_format="text",
    doc="The realm in `WWW-Authenticate` (browsers show it in their login prompt).",
)
SATISFY = Field(
    "satisfy",
    one_of("all", "any"),
    default="all",
    value_format="`all` or `any`",
    doc="`any`: a request passes when the IP lists or the authentication accept it; `all` "
    "(default): both must.",
)

FIELDS: tuple[Field, ...] = (AUTH_TYPE, AUTH_SECRET, AUTH_SECRET_TYPE, AUTH_REALM, SATISFY)


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Where the users of one Ingress are and how they are asked."""

    secret: tuple[str | None, str]
    """(namespace or None for the Ingress's, name) of the Secret."""
    auth_map: bool
    """True for `auth-map` (a key per user), False for an htpasswd file under `auth`."""
    realm: str


@dataclass(frozen=True, slots=True)
class Authentication:
    """The authentication settings of one Ingress."""

    basic: BasicAuth | None = None
    satisfy_any: bool = False


def parse(annotations: Mapping[str, str]) -> Authentication | None:
    """The settings, or None when the Ingress asks for no authentication."""
    kind = value_of(annotations, AUTH_TYPE)
    secret = value_of(annotations, AUTH_SECRET)
    auth_map = typed_value(annotations, AUTH_SECRET_TYPE, str) == "auth-map"
    realm = typed_value(annotations, AUTH_REALM, str)
    satisfy_any = typed_value(annotations, SATISFY, str) == "any"
    if kind is None:
        return Authentication(satisfy_any=True) if satisfy_any else None
    if secret is None:
        found = find(annotations, AUTH_TYPE.name)
        assert found is not None
        raise AnnotationError(found[0], "needs auth-secret naming the Secret of the users")
    assert isinstance(secret, tuple)
    return Authentication(BasicAuth(secret, auth_map, realm), satisfy_any)


def warnings(annotations: Mapping[str, str]) -> list[AnnotationError]:
    """Settings that do nothing without `auth-type`."""
    if is_set(annotations, AUTH_TYPE):
        return []
    out = []
    for field in (AUTH_SECRET, AUTH_SECRET_TYPE, AUTH_REALM):
        found = find(annotations, field.name)
        if found is not None:
            out.append(AnnotationError(found[0], "has no effect without auth-type: basic"))
    return out
