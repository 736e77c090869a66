"""TLS termination on `--listen-tls` (issue 7 §1): certificates from `spec.tls` Secrets chosen
by SNI, a default certificate, rotation without restart, and the forwarding headers."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.proxy.tls import FAKE_CERTIFICATE_NAME
from tests.certs import CertificateAuthority, Issued, tls_secret
from tests.proxy.harness import exchange, get, manifests

pytestmark = pytest.mark.asyncio

CA = CertificateAuthority()
SHOP = CA.issue("shop.example.com")
WILD = CA.issue("*.example.com")


def _document(up_port: int, *secrets: dict[str, Any]) -> dict[str, Any]:
    document = manifests(
        [
            ("shop.example.com", "/", "Prefix", [up_port]),
            ("*.example.com", "/", "Prefix", [up_port]),
        ]
    )
    document["items"][0]["spec"]["tls"] = [{"hosts": ["shop.example.com"], "secretName": "shop"}]
    document["items"][3]["spec"]["tls"] = [{"hosts": ["*.example.com"], "secretName": "wild"}]
    document["items"].extend(secrets or (tls_secret("shop", SHOP), tls_secret("wild", WILD)))
    return document


def _trusting_client() -> ssl.SSLContext:
    return ssl.create_default_context(cadata=CA.pem.decode())


def _any_certificate_client() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _handshake(
    port: int, server_name: str | None, context: ssl.SSLContext | None = None
) -> tuple[x509.Certificate, str | None]:
    """The certificate the gateway presents for `server_name`, and the ALPN it chose."""
    context = context or _any_certificate_client()
    context.set_alpn_protocols(["h2", "http/1.1"])
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=server_name or ""
    )
    try:
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der), sslobj.selected_alpn_protocol()
    finally:
        writer.close()


def _common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.mark.parametrize(
    ("server_name", "common_name"),
    [
        pytest.param("shop.example.com", "shop.example.com", id="exact host"),
        pytest.param("SHOP.example.com", "shop.example.com", id="names are case-insensitive"),
        pytest.param("api.example.com", "*.example.com", id="wildcard"),
        pytest.param("a.b.example.com", FAKE_CERTIFICATE_NAME, id="wildcard is one label"),
        pytest.param("unknown.test", FAKE_CERTIFICATE_NAME, id="unknown name"),
        pytest.param(None, FAKE_CERTIFICATE_NAME, id="no SNI"),
    ],
)
async def test_certificate_is_chosen_by_sni(
    upstreams, gateway, server_name: str | None, common_name: str
) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port))
    cert, alpn = await _handshake(gw.tls_port, server_name)
    assert _common_name(cert) == common_name
    assert alpn == "http/1.1"


async def test_requests_over_tls_are_proxied_with_https_forwarding_headers(
    upstreams, gateway
) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port))
    [resp] = await exchange(
        gw.tls_port,
        get("shop.example.com", "/cart"),
        tls=_trusting_client(),
        server_name="shop.example.com",
    )
    assert resp.status == 200 and resp.body == b"/cart"
    [req] = up.requests
    assert req.header("X-Forwarded-Proto") == "https"
    assert req.header("X-Forwarded-Port") == str(gw.tls_port)
    assert gw.access_log()[-1]["status"] == 200
    [metrics] = await exchange(gw.admin_port, get("127.0.0.1", "/metrics"))
    expiry = x509.load_pem_x509_certificate(SHOP.cert).not_valid_after_utc.timestamp()
    series = 'gateway_ssl_expire_time_seconds{host="shop.example.com",namespace="default",'
    series += 'secret_name="shop"} '
    [value] = [
        line.removeprefix(series)
        for line in metrics.body.decode().splitlines()
        if line.startswith(series)
    ]
    assert float(value) == expiry


async def test_default_ssl_certificate_flag_names_the_default(upstreams, gateway) -> None:
    up = await upstreams()
    fallback = CA.issue("fallback.example.net")
    document = _document(
        up.port, tls_secret("shop", SHOP), tls_secret("wild", WILD), tls_secret("fb", fallback)
    )
    gw = await gateway(document, default_ssl_certificate=("default", "fb"))
    cert, _ = await _handshake(gw.tls_port, "unknown.test")
    assert _common_name(cert) == "fallback.example.net"


async def test_rotation_applies_without_restart_or_failed_handshakes(upstreams, gateway) -> None:
    """Clients keep connecting (and one keeps a connection open) while the Secret changes."""
    up = await upstreams()
    gw = await gateway(_document(up.port))
    first = (await _handshake(gw.tls_port, "shop.example.com", _trusting_client()))[0]
    held_reader, held_writer = await asyncio.open_connection(
        "127.0.0.1", gw.tls_port, ssl=_trusting_client(), server_hostname="shop.example.com"
    )
    failures: list[BaseException] = []
    serials: set[int] = set()
    stop = asyncio.Event()

    async def client() -> None:
        for _ in range(400):  # bounded: the test ends when the rotation is seen
            if stop.is_set():
                return
            try:
                cert, _ = await _handshake(gw.tls_port, "shop.example.com", _trusting_client())
                serials.add(cert.serial_number)
            except (OSError, ssl.SSLError) as err:
                failures.append(err)

    clients = [asyncio.create_task(client()) for _ in range(4)]
    await asyncio.sleep(0.1)
    renewed = CA.issue("shop.example.com")
    await gw.update(_document(up.port, tls_secret("shop", renewed), tls_secret("wild", WILD)))
    async with asyncio.timeout(10):
        while len(serials) < 2:
            await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*clients)
    assert failures == []
    assert serials >= {
        first.serial_number,
        x509.load_pem_x509_certificate(renewed.cert).serial_number,
    }
    # The connection made before the rotation still serves requests.
    held_writer.write(get("shop.example.com", "/still"))
    await held_writer.drain()
    assert (await held_reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
    held_writer.close()


async def test_a_secret_that_does_not_parse_keeps_the_last_good_certificate(
    upstreams, gateway
) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port))
    broken = Issued(SHOP.cert, CA.issue("other.example.com").key, CA.pem)
    await gw.update(_document(up.port, tls_secret("shop", broken), tls_secret("wild", WILD)))
    cert, _ = await _handshake(gw.tls_port, "shop.example.com", _trusting_client())
    assert cert.serial_number == x509.load_pem_x509_certificate(SHOP.cert).serial_number
    snapshot = gw.gateway.holder.current
    problems = [(p.name, p.field, p.severity) for p in snapshot.problems if p.kind == "Secret"]
    assert problems == [("shop", "data", "error"), ("shop", "metadata", "warning")]
    [error] = [p for p in snapshot.problems if p.kind == "Secret" and p.severity == "error"]
    assert "not the private key" in error.reason


async def test_curl_and_openssl_clients(upstreams, gateway, tmp_path: Path) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(CA.pem)
    port = gw.tls_port
    curl = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "--cacert",
        str(ca_file),
        "--resolve",
        f"api.example.com:{port}:127.0.0.1",
        f"https://api.example.com:{port}/from-curl",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(curl.communicate(), 20)
    assert curl.returncode == 0, err
    assert out == b"/from-curl"
    openssl = await asyncio.create_subprocess_exec(
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "shop.example.com",
        "-CAfile",
        str(ca_file),
        "-verify_return_error",
        "-alpn",
        "http/1.1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(openssl.communicate(), 20)
    text = out.decode()
    assert openssl.returncode == 0, text
    assert "CN = shop.example.com" in text or "CN=shop.example.com" in text
    assert "Verify return code: 0 (ok)" in text
    assert "ALPN protocol: http/1.1" in text
