"""Basic authentication through a running gateway (issue 7 §6): password files written by
Apache's own `htpasswd` in each hash format, `auth-map`, `satisfy`, a missing Secret, a
password change, bcrypt off the event loop and the verified-credential cache."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
from typing import Any

import pytest

from gateway.proxy import passwords
from tests.proxy.harness import cluster, exchange, get, ingress

pytestmark = pytest.mark.asyncio

N = "nginx.ingress.kubernetes.io/"
PASSWORD = "correct horse"
WRONG = "wrong horse"  # differs within the first 8 characters, which DES crypt reads
HTPASSWD_FLAGS = {"bcrypt": "-B", "apr1": "-m", "sha1": "-s", "crypt": "-d"}


def htpasswd(user: str, password: str, flag: str, *extra: str) -> str:
    """One line as `htpasswd -nb` writes it (the tool users run to make these Secrets)."""
    cmd = ["htpasswd", "-nb", flag, *extra, user, password]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def _secret(data: dict[str, str], name: str = "users") -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"kind": "Secret", "metadata": {"name": name, "namespace": "default"}, "data": encoded}


GUARDED = {N + "auth-type": "basic", N + "auth-secret": "users", N + "auth-realm": "Staff only"}


def _document(port: int, *objects: dict[str, Any], config: dict[str, str] | None = None):
    document = cluster([], {"svc": [port]}, {"gateway-config": config or {}})
    document["items"].extend(objects)
    return document


def _basic(user: str, password: str) -> list[tuple[str, str]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [("Authorization", f"Basic {token}")]


async def _get(gw, headers: list[tuple[str, str]], path: str = "/", client: str | None = None):
    if client is not None:
        headers = [*headers, ("X-Forwarded-For", client)]
    [resp] = await exchange(gw.port, get("app.test", path, headers=headers))
    return resp


@pytest.mark.parametrize("kind", sorted(HTPASSWD_FLAGS))
async def test_each_htpasswd_format(upstreams, gateway, kind: str) -> None:
    up = await upstreams()
    line = htpasswd("alice", PASSWORD, HTPASSWD_FLAGS[kind])
    gw = await gateway(_document(up.port, ingress(GUARDED), _secret({"auth": line + "\n"})))
    rows = [
        (_basic("alice", PASSWORD), 200),
        (_basic("alice", WRONG), 401),
        (_basic("bob", PASSWORD), 401),
        ([], 401),
        ([("Authorization", "Bearer abc")], 401),
        ([("Authorization", "Basic !!!")], 401),
    ]
    for headers, status in rows:
        resp = await _get(gw, headers)
        assert resp.status == status, (headers, resp.status)
        if status == 401:
            assert resp.header("WWW-Authenticate") == 'Basic realm="Staff only"'
            assert not resp.closed  # a wrong password is an answer, not a broken connection
    assert len(up.requests) == 1
    assert up.requests[0].header("Authorization") == _basic("alice", PASSWORD)[0][1]


async def test_an_auth_map_secret(upstreams, gateway) -> None:
    up = await upstreams()
    hashed = htpasswd("alice", PASSWORD, "-B").split(":", 1)[1]
    by_map = ingress({**GUARDED, N + "auth-secret-type": "auth-map"})
    gw = await gateway(_document(up.port, by_map, _secret({"alice": hashed})))
    assert (await _get(gw, _basic("alice", PASSWORD))).status == 200
    assert (await _get(gw, _basic("alice", WRONG))).status == 401


async def test_a_missing_secret_answers_503_until_it_exists(upstreams, gateway) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port, ingress(GUARDED)))
    assert (await _get(gw, _basic("alice", PASSWORD))).status == 503
    assert up.requests == []
    line = htpasswd("alice", PASSWORD, "-s")
    await gw.update(_document(up.port, ingress(GUARDED), _secret({"auth": line})))
    assert (await _get(gw, _basic("alice", PASSWORD))).status == 200


async def test_a_password_change_applies_at_once(upstreams, gateway) -> None:
    up = await upstreams()
    old = _secret({"auth": htpasswd("alice", PASSWORD, "-B")})
    gw = await gateway(_document(up.port, ingress(GUARDED), old))
    assert (await _get(gw, _basic("alice", PASSWORD))).status == 200  # now remembered
    new = _secret({"auth": htpasswd("alice", "new password", "-B")})
    await gw.update(_document(up.port, ingress(GUARDED), new))
    assert (await _get(gw, _basic("alice", PASSWORD))).status == 401
    assert (await _get(gw, _basic("alice", "new password"))).status == 200


@pytest.mark.parametrize(
    ("satisfy", "client", "credentials", "status"),
    [
        ("all", "10.0.0.1", True, 200),
        ("all", "10.0.0.1", False, 401),
        ("all", "11.0.0.1", True, 403),
        ("any", "10.0.0.1", False, 200),
        ("any", "11.0.0.1", True, 200),
        ("any", "11.0.0.1", False, 401),
    ],
)
async def test_satisfy_with_an_allow_list(
    upstreams, gateway, satisfy: str, client: str, credentials: bool, status: int
) -> None:
    up = await upstreams()
    annotations = {**GUARDED, N + "satisfy": satisfy, N + "whitelist-source-range": "10.0.0.0/8"}
    users = _secret({"auth": htpasswd("alice", PASSWORD, "-s")})
    config = {"use-forwarded-headers": "true"}
    gw = await gateway(_document(up.port, ingress(annotations), users, config=config))
    headers = _basic("alice", PASSWORD) if credentials else []
    assert (await _get(gw, headers, client=client)).status == status


async def test_bcrypt_does_not_hold_up_other_requests(upstreams, gateway) -> None:
    """A costly hash (bcrypt cost 13, a few hundred ms) is checked off the event loop: a
    request to an open route is answered while the check runs."""
    up = await upstreams()
    users = _secret({"auth": htpasswd("alice", PASSWORD, "-B", "-C", "13")})
    ingresses = [ingress(GUARDED), ingress({}, name="open", path="/open")]
    gw = await gateway(_document(up.port, *ingresses, users))
    started = time.monotonic()
    guarded = asyncio.create_task(_get(gw, _basic("alice", PASSWORD)))
    await asyncio.sleep(0.02)  # the check has started
    assert (await _get(gw, [], path="/open")).status == 200
    open_done = time.monotonic() - started
    assert (await guarded).status == 200
    guarded_done = time.monotonic() - started
    assert open_done < guarded_done / 2, (open_done, guarded_done)


async def test_verified_credentials_are_remembered(upstreams, gateway, monkeypatch) -> None:
    checks: list[str] = []
    real_verify = passwords.verify

    def counting_verify(hashed: str, password: bytes) -> bool:
        checks.append(hashed)
        return real_verify(hashed, password)

    monkeypatch.setattr(passwords, "verify", counting_verify)
    up = await upstreams()
    users = _secret({"auth": htpasswd("alice", PASSWORD, "-B")})
    gw = await gateway(_document(up.port, ingress(GUARDED), users))
    for _ in range(3):
        assert (await _get(gw, _basic("alice", PASSWORD))).status == 200
    for _ in range(2):
        assert (await _get(gw, _basic("alice", WRONG))).status == 401
    assert len(checks) == 3  # one success (then remembered), each failure checked again
