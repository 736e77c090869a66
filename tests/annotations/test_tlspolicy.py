"""Per-host TLS annotations (reference §1I): ciphers, versions and `auth-tls-*`."""

from __future__ import annotations

import pytest

from annotations import parse_all
from annotations.tlspolicy import TlsPolicy

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"


def parsed(annotations: dict[str, str]) -> TlsPolicy | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.tlspolicy


def test_nothing_set_is_no_policy() -> None:
    assert parsed({}) is None
    # auth-tls keys without the CA Secret ask nothing of clients (as ingress-nginx).
    assert parsed({N + "auth-tls-verify-client": "optional"}) is None
    assert parsed({N + "auth-tls-secret": "ca", N + "auth-tls-verify-client": "off"}) is None


def test_client_certificate_settings_and_defaults() -> None:
    policy = parsed({N + "auth-tls-secret": "other/ca"})
    assert policy is not None and policy.clients is not None
    clients = policy.clients
    assert clients.secret == ("other", "ca")
    assert (clients.verify, clients.depth, clients.pass_certificate) == ("on", 1, False)
    assert clients.error_page is None and clients.match_cn is None
    full = parsed(
        {
            N + "auth-tls-secret": "ca",
            N + "auth-tls-verify-client": "optional_no_ca",
            N + "auth-tls-verify-depth": "3",
            N + "auth-tls-error-page": "https://example.com/error",
            N + "auth-tls-pass-certificate-to-upstream": "true",
            N + "auth-tls-match-cn": "CN=(alice|bob)",
        }
    )
    assert full is not None and full.clients is not None
    assert full.clients.secret == (None, "ca")
    assert full.clients.depth == 3 and full.clients.pass_certificate
    assert full.clients.match_cn is not None and full.clients.match_cn.search("CN=bob,O=x")


def test_ciphers_in_both_spellings_nginx_first() -> None:
    higress = parsed({H + "ssl-cipher": "ECDHE-RSA-AES128-GCM-SHA256"})
    assert higress is not None and higress.ciphers == "ECDHE-RSA-AES128-GCM-SHA256"
    both = parsed({H + "ssl-cipher": "ECDHE-RSA-AES128-GCM-SHA256", N + "ssl-ciphers": "HIGH"})
    assert both is not None and both.ciphers == "HIGH"


def test_versions_are_normalised() -> None:
    policy = parsed(
        {N + "tls-min-protocol-version": "tlsv1.2", N + "tls-max-protocol-version": "TLSv1.3"}
    )
    assert policy is not None and (policy.min_version, policy.max_version) == ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("ssl-ciphers", "NOT-A-CIPHER", "names no cipher"),
        ("tls-min-protocol-version", "SSLv3", "is not one of"),
        ("auth-tls-verify-client", "maybe", ""),
        ("auth-tls-verify-depth", "0", "from 1 to 100"),
        ("auth-tls-error-page", "/relative", "absolute"),
        ("auth-tls-match-cn", "CN=(", "regular expression"),
        ("auth-tls-secret", "a/b/c", "Secret name"),
    ],
)
def test_invalid_values_refuse_the_ingress(key: str, value: str, reason: str) -> None:
    result = parse_all(
        {N + key: value, N + "auth-tls-secret": "ca"}
        if key != "auth-tls-secret"
        else {N + key: value}
    )
    assert result.config is None
    [error] = result.errors
    assert error.key == N + key and reason in error.reason


def test_a_minimum_above_the_maximum_is_refused() -> None:
    result = parse_all(
        {N + "tls-min-protocol-version": "TLSv1.3", N + "tls-max-protocol-version": "TLSv1.2"}
    )
    assert result.config is None
    [error] = result.errors
    assert error.key == N + "tls-min-protocol-version" and "newer than" in error.reason
