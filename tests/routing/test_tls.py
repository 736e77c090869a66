"""Which certificate a server name gets (issue 7 §1): `spec.tls` hosts, then wildcards, the
oldest Ingress first, certificates checked once when their Secret is read."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.control.store import Store
from routing.certificates import CertificateError, parse_key_pair
from routing.compile import compile_snapshot
from routing.convert import convert
from tests.certs import CertificateAuthority, tls_secret
from tests.objects import compile_objects, ingress, load, path, problems, rule

CA = CertificateAuthority()
SHOP = CA.issue("shop.example.com")
WILD = CA.issue("*.example.com")
OTHER = CA.issue("other.example.com")
IMPOSTOR = CertificateAuthority()  # another key under the same name as CA


def _tls(obj: dict[str, Any], secret: str, *hosts: str) -> dict[str, Any]:
    obj["spec"].setdefault("tls", []).append({"hosts": list(hosts), "secretName": secret})
    return obj


def _served(objects: list[dict[str, Any]], name: str, **kwargs: Any) -> str | None:
    found = compile_objects(objects, **kwargs).tls.lookup(name)
    return found.name if found is not None else None


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        pytest.param("shop.example.com", "shop", id="exact host"),
        pytest.param("api.example.com", "wild", id="wildcard covers one label"),
        pytest.param("a.b.example.com", None, id="wildcard does not cover two labels"),
        pytest.param("example.com", None, id="wildcard does not cover its parent"),
        pytest.param("unknown.test", None, id="unknown name gets the default"),
    ],
)
def test_exact_host_then_wildcard(server_name: str, expected: str | None) -> None:
    objects = [
        _tls(ingress("a", rule("shop.example.com", path("/"))), "shop", "shop.example.com"),
        _tls(ingress("b", rule("*.example.com", path("/"))), "wild", "*.example.com"),
        tls_secret("shop", SHOP),
        tls_secret("wild", WILD),
    ]
    assert _served(objects, server_name) == expected


def test_the_oldest_ingress_decides_a_hosts_certificate() -> None:
    older = _tls(ingress("old", rule("shop.example.com", path("/a"))), "first", "shop.example.com")
    newer = _tls(ingress("new", rule("shop.example.com", path("/b"))), "second", "shop.example.com")
    older["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    newer["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z"
    secrets = [tls_secret("first", SHOP), tls_secret("second", OTHER)]
    assert _served([newer, older, *secrets], "shop.example.com") == "first"


def test_an_entry_without_hosts_serves_the_rule_hosts_its_certificate_covers() -> None:
    obj = ingress("a", rule("shop.example.com", path("/")), rule("other.example.com", path("/")))
    obj["spec"]["tls"] = [{"secretName": "shop"}]
    objects = [obj, tls_secret("shop", SHOP)]
    assert _served(objects, "shop.example.com") == "shop"
    assert _served(objects, "other.example.com") is None


def test_server_names_are_case_insensitive_in_the_table() -> None:
    objects = [
        _tls(ingress("a", rule("shop.example.com", path("/"))), "shop", "Shop.Example.COM"),
        tls_secret("shop", SHOP),
    ]
    assert _served(objects, "shop.example.com") == "shop"


def _missing(objects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (p.name, p.field, p.reason)
        for p in problems(compile_objects(objects))
        if p.code == "MissingSecret"
    ]


def test_missing_and_incomplete_tls_secrets_are_warnings() -> None:
    no_key = tls_secret("no-key", SHOP)
    del no_key["data"]["tls.key"]
    objects = [
        _tls(ingress("a", rule("h", path("/"))), "absent", "h"),
        _tls(ingress("b", rule("h", path("/b"))), "no-key", "h"),
        _tls(ingress("c", rule("h", path("/c"))), "good", "h"),
        no_key,
        tls_secret("good", SHOP),
    ]
    assert _missing(objects) == [
        ("a", "spec.tls[0].secretName", "Secret default/absent does not exist"),
        ("b", "spec.tls[0].secretName", "Secret default/no-key has no tls.crt and tls.key"),
    ]


def test_ingresses_of_another_class_are_not_checked() -> None:
    objects = [_tls(ingress("a", rule("h", path("/")), class_name="other"), "absent", "h")]
    assert _missing(objects) == []


def test_the_default_certificate_comes_from_its_secret_or_is_reported() -> None:
    objects = [tls_secret("fallback", OTHER, namespace="gw")]
    table = compile_objects(objects, default_certificate=("gw", "fallback")).tls
    assert table.default is not None and table.default.name == "fallback"
    snapshot = compile_objects([], default_certificate=("gw", "absent"))
    assert snapshot.tls.default is None
    assert [(p.kind, p.field, p.reason) for p in problems(snapshot)] == [
        (
            "Secret",
            "--default-ssl-certificate",
            "Secret gw/absent does not exist; the self-signed certificate is served instead",
        )
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(
            {"tls.crt": b"junk", "tls.key": SHOP.key},
            "tls.crt is not a PEM certificate",
            id="certificate is not PEM",
        ),
        pytest.param(
            {"tls.crt": SHOP.cert, "tls.key": b"junk"},
            "tls.key is not an unencrypted PEM private key",
            id="key is not PEM",
        ),
        pytest.param(
            {"tls.crt": SHOP.cert, "tls.key": OTHER.key},
            "tls.key is not the private key of the first certificate in tls.crt",
            id="key of another certificate",
        ),
    ],
)
def test_a_secret_that_does_not_parse_is_refused_with_its_reason(
    data: dict[str, bytes], reason: str
) -> None:
    obj = tls_secret("shop", SHOP)
    obj["data"] = {k: _b64(v) for k, v in data.items()}
    converted = convert(obj)
    assert converted.view is None
    assert [(p.kind, p.name, p.field) for p in converted.problems] == [("Secret", "shop", "data")]
    assert converted.problems[0].reason.startswith(reason)


def test_a_refused_secret_version_keeps_the_last_good_certificate_serving() -> None:
    store = Store()
    ing = _tls(ingress("a", rule("shop.example.com", path("/"))), "shop", "shop.example.com")
    load(store, [ing, tls_secret("shop", SHOP)])
    broken = tls_secret("shop", SHOP)
    broken["data"]["tls.key"] = _b64(OTHER.key)
    load(store, [ing, broken])
    snapshot = compile_snapshot(store.state())
    served = snapshot.tls.lookup("shop.example.com")
    assert served is not None and served.pair.chain == SHOP.cert
    assert any(p.kind == "Secret" and p.severity == "error" for p in snapshot.problems)


def test_key_pair_names_come_from_the_subject_alt_names_else_the_common_name() -> None:
    assert parse_key_pair(WILD.cert, WILD.key).names == ("*.example.com",)
    no_san = CA.issue(common_name="legacy.example.com")
    assert parse_key_pair(no_san.cert, no_san.key).names == ("legacy.example.com",)
    with pytest.raises(CertificateError):
        parse_key_pair(b"", b"")


def test_a_compile_reuses_the_certificate_table_until_a_secret_or_ingress_changes() -> None:
    """Endpoint-only compiles must not rebuild it: that walk costs tens of ms at 10k Ingresses."""
    store = Store()
    ing = _tls(ingress("a", rule("shop.example.com", path("/"))), "shop", "shop.example.com")
    missing = _tls(ingress("b", rule("h", path("/b"))), "absent", "h")
    load(store, [ing, missing, tls_secret("shop", SHOP)])
    first = compile_snapshot(store.state())
    again = compile_snapshot(store.state(), previous=first)
    assert again.tls is first.tls
    assert [p.name for p in again.problems if p.code == "MissingSecret"] == ["b"]  # kept too
    load(store, [ing, missing, tls_secret("shop", OTHER)])
    renewed = compile_snapshot(store.state(), previous=again)
    served = renewed.tls.lookup("shop.example.com")
    assert served is not None and served.pair.chain == OTHER.cert


# --- per-host TLS policy (routing.tlspolicy) -----------------------------------------------------
N = "nginx.ingress.kubernetes.io/"


def _ca_secret(
    name: str, key: str = "ca.crt", data: bytes = CA.pem, crl: bytes | None = None
) -> dict[str, Any]:
    items = {key: data, **({"ca.crl": crl} if crl is not None else {})}
    return {
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": {k: base64.b64encode(v).decode() for k, v in items.items()},
    }


def test_a_hosts_tls_policy_comes_from_its_oldest_ingress() -> None:
    first = {N + "ssl-ciphers": "HIGH", N + "auth-tls-secret": "ca"}
    second = {N + "tls-max-protocol-version": "TLSv1.2"}
    older = ingress("old", rule("shop.example.com", path("/a")), annotations=first)
    newer = ingress("new", rule("shop.example.com", path("/b")), annotations=second)
    older["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    newer["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z"
    snapshot = compile_objects([newer, older, _ca_secret("ca", "cacert")])
    policy = snapshot.tls.policy_for("shop.example.com")
    assert policy is not None and policy.ciphers == "HIGH" and policy.max_version is None
    assert policy.clients is not None and policy.clients.ca == CA.pem
    [conflict] = [p for p in snapshot.problems if p.code == "ConflictingTlsSettings"]
    assert (conflict.name, conflict.severity) == ("new", "warning")
    assert "default/old" in conflict.reason


def test_wildcard_hosts_have_policies_too() -> None:
    wild = ingress("w", rule("*.example.com", path("/")), annotations={N + "ssl-ciphers": "HIGH"})
    tls = compile_objects([wild]).tls
    assert tls.policy_for("api.example.com") is not None
    assert tls.policy_for("a.b.example.com") is None


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (None, "Secret default/ca does not exist"),
        (_ca_secret("ca", "other"), "has no ca.crt (or cacert)"),
        (_ca_secret("ca", data=b"not a certificate"), "ca.crt is not a PEM certificate"),
        (_ca_secret("ca", crl=b"not a list"), "ca.crl is not a PEM revocation list"),
        (
            _ca_secret("ca", crl=IMPOSTOR.revocation_list()),
            "ca.crl: the list of CN=test CA is not signed by that CA",
        ),
    ],
    ids=["missing", "no-key", "not-pem", "crl-not-pem", "crl-not-signed-by-the-ca"],
)
def test_an_unusable_ca_is_an_error_and_refuses_the_host(secret: Any, reason: str) -> None:
    guarded = ingress(
        "g", rule("shop.example.com", path("/")), annotations={N + "auth-tls-secret": "ca"}
    )
    snapshot = compile_objects([guarded, *([secret] if secret else [])])
    policy = snapshot.tls.policy_for("shop.example.com")
    assert policy is not None and policy.clients is not None and policy.clients.ca is None
    [problem] = [p for p in snapshot.problems if p.code == "MissingSecret"]
    assert problem.severity == "error" and reason in problem.reason
    assert problem.field == f"metadata.annotations[{N}auth-tls-secret]"


def test_revocation_lists_come_with_the_ca() -> None:
    """`ca.crl` beside `ca.crt`: any CA's lists (an intermediate's is checked against the
    chain a client sends), and a new list makes new handshake settings."""
    intermediate = CertificateAuthority("intermediate", parent=CA)
    lists = CA.revocation_list(OTHER) + intermediate.revocation_list()
    guarded = ingress(
        "g", rule("shop.example.com", path("/")), annotations={N + "auth-tls-secret": "ca"}
    )
    with_lists = compile_objects([guarded, _ca_secret("ca", crl=lists)])
    policy = with_lists.tls.policy_for("shop.example.com")
    assert policy is not None and policy.clients is not None
    assert (policy.clients.ca, policy.clients.crl) == (CA.pem, lists)
    assert not [p for p in with_lists.problems if p.severity == "error"]
    without = compile_objects([guarded, _ca_secret("ca")]).tls.policy_for("shop.example.com")
    assert without is not None and without.clients is not None and without.clients.crl is None
    assert without.key != policy.key
