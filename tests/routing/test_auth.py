"""The users a route asks for (issue 7 §6): read from the Secret named in `auth-secret`,
with named problems for a Secret that is missing or has lines the gateway cannot use."""

from __future__ import annotations

import base64
from typing import Any

from routing.auth import hash_format
from routing.document import routes_document
from tests.objects import compile_objects, ingress, path, problems, rule

N = "nginx.ingress.kubernetes.io/"
BCRYPT = "$2y$05$kV3soWNnuaxt6R7GwfXUkeeGcwJOMkh49XNXMWtrni/mvyLQq7OqC"
APR1 = "$apr1$vnoczWf.$6hxOdxuEivFXX4abfDoe11"
SHA1 = "{SHA}ohgYgF2kkgMlRbH1HlEDczlOc+M="
CRYPT = "4VmYex6tSRwZM"


def _secret(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "data": encoded}


def _guarded(**extra: str) -> dict[str, Any]:
    annotations = {N + "auth-type": "basic", N + "auth-secret": "users", **extra}
    return ingress("web", rule("app.test", path("/")), annotations=annotations)


def test_hash_formats() -> None:
    assert [hash_format(h) for h in (BCRYPT, APR1, SHA1, CRYPT, "{PLAIN}pw", "nope")] == [
        "bcrypt", "apr1", "sha1", "crypt", "plain", None
    ]  # fmt: skip


def test_an_htpasswd_file_becomes_the_route_s_users() -> None:
    lines = f"# staff\nalice:{BCRYPT}\n\nbob:{APR1}\nalice:{SHA1}\ncarol:{CRYPT}\n"
    snapshot = compile_objects(
        [_guarded(**{N + "auth-realm": "Staff"}), _secret("users", auth=lines)]
    )
    [route] = snapshot.table.routes
    assert route.auth is not None and route.auth.basic is not None
    basic = route.auth.basic
    assert basic.usable and basic.source == "default/users"
    assert basic.users == (("alice", BCRYPT), ("bob", APR1), ("carol", CRYPT))  # first line wins
    assert basic.challenge == b'WWW-Authenticate: Basic realm="Staff"\r\n'
    assert problems(snapshot) == []


def test_an_auth_map_has_a_key_per_user() -> None:
    objects = [_guarded(**{N + "auth-secret-type": "auth-map"}), _secret("users", alice=SHA1)]
    [route] = compile_objects(objects).table.routes
    assert route.auth is not None and route.auth.basic is not None
    assert route.auth.basic.users == (("alice", SHA1),)


def test_a_secret_in_another_namespace() -> None:
    objects = [
        _guarded(**{N + "auth-secret": "shared/users"}),
        _secret("users", "shared", auth=f"a:{SHA1}"),
    ]
    [route] = compile_objects(objects).table.routes
    assert route.auth is not None and route.auth.basic is not None
    assert route.auth.basic.usable and route.auth.basic.source == "shared/users"


def test_a_missing_secret_closes_the_route_with_a_named_error() -> None:
    snapshot = compile_objects([_guarded()])
    [route] = snapshot.table.routes
    assert route.auth is not None and route.auth.basic is not None
    assert not route.auth.basic.usable
    [problem] = problems(snapshot)
    assert (problem.severity, problem.code, problem.name) == ("error", "MissingSecret", "web")
    assert problem.field == f"metadata.annotations[{N}auth-secret]"
    assert "default/users does not exist" in problem.reason and "503" in problem.reason


def test_a_secret_without_the_auth_key_closes_the_route() -> None:
    snapshot = compile_objects([_guarded(), _secret("users", other=f"a:{SHA1}")])
    [route] = snapshot.table.routes
    assert route.auth is not None and route.auth.basic is not None
    assert not route.auth.basic.usable
    [problem] = problems(snapshot)
    assert problem.code == "InvalidSecret" and "no key 'auth'" in problem.reason


def test_unusable_lines_are_warnings_and_the_rest_still_sign_in() -> None:
    snapshot = compile_objects(
        [_guarded(), _secret("users", auth=f"no-colon\nbob:md5hash\nalice:{SHA1}")]
    )
    [route] = snapshot.table.routes
    assert route.auth is not None and route.auth.basic is not None
    assert route.auth.basic.users == (("alice", SHA1),)
    reasons = sorted(p.reason for p in problems(snapshot))
    assert [p.severity for p in problems(snapshot)] == ["warning", "warning"]
    assert "line 1" in reasons[0] and "'bob'" in reasons[1]


def test_a_changed_secret_recompiles_the_routes() -> None:
    first = compile_objects([_guarded(), _secret("users", auth=f"alice:{SHA1}")])
    second = compile_objects([_guarded(), _secret("users", auth=f"bob:{SHA1}")], previous=first)
    [route] = second.table.routes
    assert route.auth is not None and route.auth.basic is not None
    assert route.auth.basic.users == (("bob", SHA1),)
    assert second.table.digest != first.table.digest


def test_debug_routes_shows_the_route_s_authentication() -> None:
    snapshot = compile_objects([_guarded(), _secret("users", auth=f"alice:{SHA1}")])
    [entry] = routes_document(snapshot, 1)["routes"]
    assert entry["auth"] == {
        "satisfy": "all",
        "basic": {"secret": "default/users", "users": 1, "usable": True},
    }


def test_debug_routes_shows_the_external_check() -> None:
    annotations = {N + "auth-url": "https://auth.test/check?h=$host"}
    snapshot = compile_objects(
        [ingress("web", rule("app.test", path("/")), annotations=annotations)]
    )
    [entry] = routes_document(snapshot, 1)["routes"]
    assert entry["auth"] == {
        "satisfy": "all",
        "external": {"url": "https://auth.test/check?h=$host", "usable": True},
    }
