"""HTTPS redirects and HSTS (issue 7 §2): `ssl-redirect` for hosts with TLS, `force-ssl-redirect`
for any, `preserve-trailing-slash`, the ConfigMap's defaults and `http-redirect-code`, a
trusted `X-Forwarded-Proto`, and `Strict-Transport-Security` on HTTPS answers."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from tests.certs import CertificateAuthority, tls_secret
from tests.proxy.harness import Response, exchange, get, manifests, response

pytestmark = pytest.mark.asyncio

CA = CertificateAuthority()
SHOP = CA.issue("shop.example.com")


def _document(
    port: int,
    annotations: dict[str, str] | None = None,
    configmap: dict[str, str] | None = None,
) -> dict[str, Any]:
    """shop.example.com with TLS, plain.example.com without."""
    document = manifests(
        [("shop.example.com", "/", "Prefix", [port]), ("plain.example.com", "/", "Prefix", [port])],
        annotations=annotations,
        configmap=configmap,
    )
    document["items"][0]["spec"]["tls"] = [{"hosts": ["shop.example.com"], "secretName": "shop"}]
    document["items"].append(tls_secret("shop", SHOP))
    return document


@pytest.mark.parametrize(
    ("annotations", "configmap", "host", "target", "headers", "status", "location"),
    [
        pytest.param({}, None, "shop.example.com", "/cart?x=1", [], 308,
                     "https://shop.example.com/cart?x=1", id="TLS host redirects by default"),
        pytest.param({}, None, "shop.example.com:8080", "/a/", [], 308,
                     "https://shop.example.com/a", id="port dropped, trailing slash dropped"),
        pytest.param({}, None, "shop.example.com", "/", [], 308,
                     "https://shop.example.com", id="the root becomes the bare host"),
        pytest.param({"nginx.ingress.kubernetes.io/preserve-trailing-slash": "true"}, None,
                     "shop.example.com", "/a/", [], 308, "https://shop.example.com/a/",
                     id="preserve-trailing-slash"),
        pytest.param({}, {"preserve-trailing-slash": "true"}, "shop.example.com", "/a/", [], 308,
                     "https://shop.example.com/a/", id="preserve-trailing-slash in ConfigMap"),
        pytest.param({"nginx.ingress.kubernetes.io/ssl-redirect": "false"}, None,
                     "shop.example.com", "/", [], 200, None, id="ssl-redirect false"),
        pytest.param({}, {"ssl-redirect": "false"}, "shop.example.com", "/", [], 200, None,
                     id="ConfigMap ssl-redirect false"),
        pytest.param({"nginx.ingress.kubernetes.io/ssl-redirect": "true"},
                     {"ssl-redirect": "false"}, "shop.example.com", "/", [], 308,
                     "https://shop.example.com", id="annotation over ConfigMap"),
        pytest.param({}, None, "plain.example.com", "/", [], 200, None,
                     id="host without TLS is proxied"),
        pytest.param({"mse.ingress.kubernetes.io/force-ssl-redirect": "true"}, None,
                     "plain.example.com", "/p", [], 308, "https://plain.example.com/p",
                     id="force-ssl-redirect without TLS"),
        pytest.param({}, {"force-ssl-redirect": "true"}, "plain.example.com", "/p", [], 308,
                     "https://plain.example.com/p", id="ConfigMap force-ssl-redirect"),
        pytest.param({}, {"http-redirect-code": "301"}, "shop.example.com", "/", [], 301,
                     "https://shop.example.com", id="http-redirect-code"),
        pytest.param({}, {"use-forwarded-headers": "true"}, "shop.example.com", "/",
                     [("X-Forwarded-Proto", "https")], 200, None,
                     id="trusted X-Forwarded-Proto https is not redirected"),
        pytest.param({}, None, "shop.example.com", "/", [("X-Forwarded-Proto", "https")], 308,
                     "https://shop.example.com", id="untrusted X-Forwarded-Proto is ignored"),
        pytest.param({}, {"use-forwarded-headers": "true", "proxy-real-ip-cidr": "10.0.0.0/8"},
                     "shop.example.com", "/", [("X-Forwarded-Proto", "https")], 308,
                     "https://shop.example.com", id="peer outside proxy-real-ip-cidr"),
    ],
)  # fmt: skip
async def test_https_redirect_rules(
    upstreams,
    gateway,
    annotations: dict[str, str],
    configmap: dict[str, str] | None,
    host: str,
    target: str,
    headers: list[tuple[str, str]],
    status: int,
    location: str | None,
) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port, annotations, configmap))
    [resp] = await exchange(gw.port, get(host, target, headers=headers))
    assert resp.status == status
    assert resp.header("Location") == location
    assert len(up.requests) == (1 if status == 200 else 0)


def _client() -> ssl.SSLContext:
    return ssl.create_default_context(cadata=CA.pem.decode())


async def _over_tls(
    port: int, target: str = "/", server_name: str = "shop.example.com"
) -> Response:
    context = _client()
    if server_name != "shop.example.com":  # the self-signed default certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    [resp] = await exchange(port, get(server_name, target), tls=context, server_name=server_name)
    return resp


async def test_https_requests_are_not_redirected_and_carry_hsts(upstreams, gateway) -> None:
    async def with_hsts(request, writer) -> None:
        writer.write(response(200, b"ok", [("Strict-Transport-Security", "max-age=1")]))

    up = await upstreams(with_hsts)
    gw = await gateway(_document(up.port))
    resp = await _over_tls(gw.tls_port, "/cart")
    assert resp.status == 200
    # The pod's own value gives way: one header, the gateway's.
    assert resp.header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    missing = await _over_tls(gw.tls_port, "/x", server_name="unknown.test")
    assert missing.status == 404 and missing.header("Strict-Transport-Security") is None
    [plain] = await exchange(gw.port, get("plain.example.com"))
    assert plain.header("Strict-Transport-Security") == "max-age=1"  # plain HTTP: the pod's


@pytest.mark.parametrize(
    ("configmap", "expected"),
    [
        pytest.param({"hsts": "false"}, None, id="off"),
        pytest.param(
            {"hsts-max-age": "60", "hsts-include-subdomains": "false", "hsts-preload": "true"},
            "max-age=60; preload",
            id="max-age and preload",
        ),
    ],
)
async def test_hsts_settings(upstreams, gateway, configmap, expected) -> None:
    up = await upstreams()
    gw = await gateway(_document(up.port, configmap=configmap))
    resp = await _over_tls(gw.tls_port)
    assert resp.header("Strict-Transport-Security") == expected


async def test_the_gateways_own_answers_carry_hsts(upstreams, gateway) -> None:
    gw = await gateway(_document(1))  # no upstream listens: 502 from the gateway
    resp = await _over_tls(gw.tls_port)
    assert resp.status == 502
    assert resp.header("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
