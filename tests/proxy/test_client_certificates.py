"""Per-host TLS policy and client certificates (issue 7 §3), with real TLS clients: Python's
`ssl`, curl and `openssl s_client` against the gateway's TLS listener."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.certs import CertificateAuthority, Issued, tls_secret
from tests.proxy.harness import GatewayUnderTest, Upstream, cluster, exchange, get, ingress

pytestmark = pytest.mark.asyncio

CA = CertificateAuthority("client CA")
OTHER_CA = CertificateAuthority("someone else's CA")
SERVER = CA.issue("mtls.test", "open.test", "old.test")
ALICE = CA.issue(common_name="alice", client=True)
BOB = CA.issue(common_name="bob", client=True)
MALLORY = OTHER_CA.issue(common_name="alice", client=True)
INTERMEDIATE = CertificateAuthority("client intermediate", parent=CA)
SECOND = CertificateAuthority("second intermediate", parent=INTERMEDIATE)
CAROL = INTERMEDIATE.issue(common_name="carol", client=True)  # one intermediate below the CA
DAVE = SECOND.issue(common_name="dave", client=True)  # two
PREFIX = "nginx.ingress.kubernetes.io/"


def ca_secret(
    name: str = "client-ca", key: str = "ca.crt", crl: bytes | None = None
) -> dict[str, Any]:
    data = {key: CA.pem, **({"ca.crl": crl} if crl is not None else {})}
    return {
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def document(
    port: int,
    annotations: dict[str, str],
    *extra: dict[str, Any],
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`mtls.test` with `annotations`, `open.test` without, both on one certificate; the
    gateway's ConfigMap holds `settings`."""
    guarded = ingress({PREFIX + k: v for k, v in annotations.items()}, host="mtls.test")
    plain = ingress({}, name="open", host="open.test")
    for item in (guarded, plain):
        item["spec"]["tls"] = [{"hosts": [item["spec"]["rules"][0]["host"]], "secretName": "srv"}]
    configmaps = {"gateway-config": settings} if settings is not None else None
    built = cluster([guarded, plain], {"svc": [port]}, configmaps=configmaps)
    built["items"].extend([tls_secret("srv", SERVER), *extra])
    return built


def client_context(cert: Issued | None, folder: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=CA.pem.decode())
    if cert is not None:
        certfile, keyfile = cert.write(folder, f"client{id(cert)}")
        context.load_cert_chain(certfile, keyfile)
    return context


async def ask(
    gw: GatewayUnderTest, cert: Issued | None, folder: Path, host: str = "mtls.test",
    sni: str | None = None, headers: list[tuple[str, str]] | None = None,
) -> Any:  # fmt: skip
    (answer,) = await exchange(
        gw.tls_port, get(host, "/", headers=headers or []),
        tls=client_context(cert, folder), server_name=sni or host,
    )  # fmt: skip
    return answer


async def test_verify_on_needs_a_certificate_from_the_ca(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    up: Upstream = await upstreams()
    gw = await gateway(document(up.port, {"auth-tls-secret": "default/client-ca"}, ca_secret()))
    assert (await ask(gw, None, tmp_path)).status == 400
    assert (await ask(gw, MALLORY, tmp_path)).status == 400
    assert up.requests == []
    spoofed = [("ssl-client-verify", "SUCCESS"), ("ssl-client-subject-dn", "CN=root")]
    answer = await ask(gw, ALICE, tmp_path, headers=spoofed)
    assert answer.status == 200
    (request,) = up.requests
    assert request.header("ssl-client-verify") == "SUCCESS"
    assert request.header("ssl-client-subject-dn") == "CN=alice"
    assert request.header("ssl-client-issuer-dn") == "CN=client CA"
    assert request.header("ssl-client-cert") is None
    # A host without the setting never asks.
    assert (await ask(gw, None, tmp_path, host="open.test")).status == 200


@pytest.mark.parametrize(
    ("verify", "none", "foreign", "foreign_verify"),
    [("optional", 200, 400, None), ("optional_no_ca", 200, 200, "FAILED:")],
)
async def test_optional_modes(
    upstreams: Any, gateway: Any, tmp_path: Path, verify: str, none: int, foreign: int,
    foreign_verify: str | None,
) -> None:  # fmt: skip
    up: Upstream = await upstreams()
    annotations = {"auth-tls-secret": "client-ca", "auth-tls-verify-client": verify}
    gw = await gateway(document(up.port, annotations, ca_secret()))
    assert (await ask(gw, None, tmp_path)).status == none
    assert up.requests[-1].header("ssl-client-verify") == "NONE"
    assert (await ask(gw, MALLORY, tmp_path)).status == foreign
    if foreign_verify is not None:
        assert (up.requests[-1].header("ssl-client-verify") or "").startswith(foreign_verify)
    assert (await ask(gw, ALICE, tmp_path)).status == 200
    assert up.requests[-1].header("ssl-client-verify") == "SUCCESS"


async def test_error_page_match_cn_and_passing_the_certificate(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    up: Upstream = await upstreams()
    annotations = {
        "auth-tls-secret": "client-ca",
        "auth-tls-error-page": "https://login.example.com/cert",
        "auth-tls-match-cn": "CN=alice",
        "auth-tls-pass-certificate-to-upstream": "true",
    }
    gw = await gateway(document(up.port, annotations, ca_secret()))
    refused = await ask(gw, None, tmp_path)
    assert (refused.status, refused.header("Location")) == (302, "https://login.example.com/cert")
    assert (await ask(gw, BOB, tmp_path)).status == 403
    assert (await ask(gw, ALICE, tmp_path)).status == 200
    pem = unquote(up.requests[-1].header("ssl-client-cert") or "")
    assert pem.encode().strip() == ALICE.cert.strip()


@pytest.mark.parametrize(("depth", "expected"), [("1", 400), ("2", 200)])
async def test_verify_depth_counts_intermediate_cas(
    upstreams: Any, gateway: Any, tmp_path: Path, depth: str, expected: int
) -> None:
    """`auth-tls-verify-depth` is how many intermediate CAs may stand between a client
    certificate and the CA (OpenSSL's count, so nginx's): two need 2."""
    up: Upstream = await upstreams()
    annotations = {"auth-tls-secret": "client-ca", "auth-tls-verify-depth": depth}
    gw = await gateway(document(up.port, annotations, ca_secret()))
    assert (await ask(gw, DAVE, tmp_path)).status == expected
    assert (await ask(gw, CAROL, tmp_path)).status == 200  # one intermediate: always within


async def test_revoked_client_certificates_are_refused(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    """`ca.crl` in the CA Secret, as nginx's `ssl_crl`; a new list applies without a restart,
    and TLS sessions made under the old one do not resume past it."""
    up: Upstream = await upstreams()
    annotations = {"auth-tls-secret": "client-ca"}
    gw = await gateway(document(up.port, annotations, ca_secret(crl=CA.revocation_list(BOB))))
    assert (await ask(gw, BOB, tmp_path)).status == 400
    assert (await ask(gw, ALICE, tmp_path)).status == 200
    await gw.update(document(up.port, annotations, ca_secret(crl=CA.revocation_list(ALICE))))
    assert (await ask(gw, ALICE, tmp_path)).status == 400
    assert (await ask(gw, BOB, tmp_path)).status == 200
    # What the pod is told when the check is only reported:
    optional = {**annotations, "auth-tls-verify-client": "optional_no_ca"}
    await gw.update(document(up.port, optional, ca_secret(crl=CA.revocation_list(ALICE))))
    assert (await ask(gw, ALICE, tmp_path)).status == 200
    assert up.requests[-1].header("ssl-client-verify") == "FAILED:certificate revoked"


async def test_revocation_lists_cover_the_whole_chain(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    """As nginx: every CA below the root needs its own list in `ca.crl`, and a certificate
    revoked anywhere in the chain refuses the client."""
    up: Upstream = await upstreams()
    annotations = {"auth-tls-secret": "client-ca", "auth-tls-verify-depth": "2"}

    async def carol_with(*lists: bytes) -> int:
        await gw.update(document(up.port, annotations, ca_secret(crl=b"".join(lists))))
        return (await ask(gw, CAROL, tmp_path)).status  # CAROL: one intermediate below the CA

    gw = await gateway(document(up.port, annotations, ca_secret()))
    assert await carol_with(CA.revocation_list()) == 400  # no list for the intermediate
    assert await carol_with(CA.revocation_list(), INTERMEDIATE.revocation_list()) == 200
    assert await carol_with(CA.revocation_list(), INTERMEDIATE.revocation_list(CAROL)) == 400
    assert await carol_with(CA.revocation_list(INTERMEDIATE), INTERMEDIATE.revocation_list()) == 400


async def test_an_expired_revocation_list_refuses_every_client(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    """Past its next update a list proves nothing: OpenSSL, so nginx, refuses every
    certificate until the Secret gets a current one (docs/security.md)."""
    up: Upstream = await upstreams()
    annotations = {"auth-tls-secret": "client-ca", "auth-tls-verify-client": "optional_no_ca"}
    gw = await gateway(
        document(up.port, annotations, ca_secret(crl=CA.revocation_list(expired=True)))
    )
    assert (await ask(gw, ALICE, tmp_path)).status == 200
    assert up.requests[-1].header("ssl-client-verify") == "FAILED:CRL has expired"


async def test_a_connection_made_for_another_host_is_misdirected(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    """SNI open.test (no certificate asked), then Host mtls.test: 421, never unchecked."""
    up: Upstream = await upstreams()
    gw = await gateway(document(up.port, {"auth-tls-secret": "client-ca"}, ca_secret()))
    assert (await ask(gw, ALICE, tmp_path, sni="open.test")).status == 421
    assert up.requests == []


async def test_a_missing_ca_refuses_the_host_and_says_why(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    up: Upstream = await upstreams()
    gw = await gateway(document(up.port, {"auth-tls-secret": "nowhere"}))
    assert (await ask(gw, ALICE, tmp_path)).status == 503
    assert gw.gateway is not None and gw.gateway.holder.current is not None
    [problem] = [p for p in gw.gateway.holder.current.problems if p.code == "MissingSecret"]
    assert problem.field == f"metadata.annotations[{PREFIX}auth-tls-secret]"
    assert "default/nowhere does not exist" in problem.reason
    # The CA appears: the host serves, without a restart.
    await gw.update(
        document(up.port, {"auth-tls-secret": "nowhere"}, ca_secret("nowhere", "cacert"))
    )
    assert (await ask(gw, ALICE, tmp_path)).status == 200


async def test_plain_http_shows_no_certificate(upstreams: Any, gateway: Any) -> None:
    up: Upstream = await upstreams()
    annotations = {"auth-tls-secret": "client-ca", "ssl-redirect": "false"}
    gw = await gateway(document(up.port, annotations, ca_secret()))
    (answer,) = await exchange(gw.port, get("mtls.test"))
    assert answer.status == 400
    assert up.requests == []


async def test_curl_with_a_client_certificate(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    up: Upstream = await upstreams()
    gw = await gateway(document(up.port, {"auth-tls-secret": "client-ca"}, ca_secret()))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(CA.pem)
    certfile, keyfile = ALICE.write(tmp_path, "alice")

    async def curl(*extra: str) -> tuple[int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(ca_file),
            "--resolve", f"mtls.test:{gw.tls_port}:127.0.0.1", *extra,
            f"https://mtls.test:{gw.tls_port}/",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err
        return int(out), err

    assert (await curl())[0] == 400
    assert (await curl("--cert", str(certfile), "--key", str(keyfile)))[0] == 200


# --- versions and ciphers -----------------------------------------------------------------------
async def openssl_client(port: int, server_name: str, *options: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", server_name,
        *options,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return out.decode()


async def test_protocol_versions_and_ciphers_per_host(upstreams: Any, gateway: Any) -> None:
    up: Upstream = await upstreams()
    annotations = {
        "tls-max-protocol-version": "TLSv1.2",
        "ssl-ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384",
    }
    gw = await gateway(document(up.port, annotations))
    port = gw.tls_port
    limited = await openssl_client(port, "mtls.test")
    assert "Protocol  : TLSv1.2" in limited or "Protocol: TLSv1.2" in limited, limited
    assert "ECDHE-ECDSA-AES256-GCM-SHA384" in limited
    # The other host keeps the defaults: TLS 1.3.
    assert "TLSv1.3" in await openssl_client(port, "open.test")
    # A client that insists on TLS 1.3, or on another cipher, fails the handshake.
    refused = await openssl_client(port, "mtls.test", "-tls1_3")
    assert "Cipher is (NONE)" in refused or "alert" in refused, refused
    other_cipher = await openssl_client(
        port, "mtls.test", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"
    )
    assert "Cipher is (NONE)" in other_cipher or "alert" in other_cipher, other_cipher


def refused(handshake: str) -> bool:
    return "Cipher is (NONE)" in handshake or "alert" in handshake


async def test_the_configmaps_versions_and_ciphers_apply_to_hosts_without_their_own(
    upstreams: Any, gateway: Any
) -> None:
    """`ssl-protocols` and `ssl-ciphers` for every host, a host's annotations first; a
    change applies to the next handshake, without a restart."""
    up: Upstream = await upstreams()
    other = "ECDHE-ECDSA-AES128-GCM-SHA256"
    own = {"tls-min-protocol-version": "TLSv1.2", "ssl-ciphers": other}  # mtls.test's
    gw = await gateway(document(up.port, own, settings={"ssl-protocols": "TLSv1.3"}))
    port = gw.tls_port
    assert refused(await openssl_client(port, "open.test", "-tls1_2"))
    assert "TLSv1.3" in await openssl_client(port, "open.test")
    assert "TLSv1.2" in await openssl_client(port, "mtls.test", "-tls1_2")
    cipher = "ECDHE-ECDSA-CHACHA20-POLY1305"
    await gw.update(document(up.port, own, settings={"ssl-ciphers": cipher}))
    assert cipher in await openssl_client(port, "open.test", "-tls1_2")
    assert refused(await openssl_client(port, "open.test", "-tls1_2", "-cipher", other))
    assert other in await openssl_client(port, "mtls.test", "-tls1_2", "-cipher", other)
    # An invalid value is reported and the one in force stays.
    await gw.update(document(up.port, own, settings={"ssl-ciphers": "NOTHING-KNOWN"}))
    assert gw.gateway is not None and gw.gateway.holder.current is not None
    [problem] = [p for p in gw.gateway.holder.current.problems if p.code == "InvalidSetting"]
    assert problem.field == "data.ssl-ciphers" and "names no cipher" in problem.reason
    assert refused(await openssl_client(port, "open.test", "-tls1_2", "-cipher", other))


async def test_higress_spelling_and_minimum_version(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    up: Upstream = await upstreams()
    higress = {"higress.io/ssl-cipher": "ECDHE-ECDSA-CHACHA20-POLY1305",
               "higress.io/tls-min-protocol-version": "TLSv1.3"}  # fmt: skip
    doc = document(up.port, {})
    doc["items"][0]["metadata"]["annotations"] = higress
    gw = await gateway(doc)
    old_client = client_context(None, tmp_path)
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await exchange(gw.tls_port, get("mtls.test"), tls=old_client, server_name="mtls.test")
    (answer,) = await exchange(
        gw.tls_port, get("open.test"), tls=old_client, server_name="open.test"
    )
    assert answer.status == 200
