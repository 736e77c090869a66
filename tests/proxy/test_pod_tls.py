"""TLS to the pods (issue 7 §4): `backend-protocol: HTTPS` and `proxy-ssl-*`, against pods that
serve HTTPS with real certificates: verification with the right and a wrong CA, the name, SNI,
a client certificate the pod requires, protocol limits and pooled connections."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.certs import CertificateAuthority, Issued
from tests.proxy.harness import Upstream, cluster, exchange, get, ingress

pytestmark = pytest.mark.asyncio

POD_CA = CertificateAuthority("pod CA")
WRONG_CA = CertificateAuthority("wrong CA")
POD = POD_CA.issue("web.default.svc", "pod.internal")
GATEWAY_CLIENT = POD_CA.issue(common_name="gateway", client=True)
N = "nginx.ingress.kubernetes.io/"


def pod_context(
    tmp_path: Path, *, require_client: bool = False, max_tls12: bool = False
) -> tuple[ssl.SSLContext, list[str]]:
    """A pod's server context, and the SNI names it saw."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certfile, keyfile = POD.write(tmp_path, "pod")
    context.load_cert_chain(certfile, keyfile)
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=POD_CA.pem.decode())
    if max_tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    names: list[str] = []

    def record(_obj: object, name: str | None, _ctx: object) -> None:
        if name:  # called with None when the client sent no name
            names.append(name)

    context.sni_callback = record  # type: ignore[assignment]
    return context, names


def secret(
    name: str, ca: CertificateAuthority | None = None, client: Issued | None = None
) -> dict[str, Any]:
    data: dict[str, bytes] = {}
    if ca is not None:
        data["ca.crt"] = ca.pem
    if client is not None:
        data["tls.crt"], data["tls.key"] = client.cert, client.key
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    return {"kind": "Secret", "metadata": {"name": name, "namespace": "default"}, "data": encoded}


def document(port: int, annotations: dict[str, str], *extra: dict[str, Any]) -> dict[str, Any]:
    built = cluster(
        [ingress({N + k: v for k, v in annotations.items()}, service="web")], {"web": [port]}
    )
    built["items"].extend(extra)
    return built


async def status(gw: Any) -> int:
    (answer,) = await exchange(gw.port, get("app.test", "/x"))
    return answer.status


async def test_https_pods_unchecked_by_default_and_pooled(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    context, names = pod_context(tmp_path)
    pod: Upstream = await upstreams(tls=context)
    gw = await gateway(document(pod.port, {"backend-protocol": "HTTPS"}))
    assert [await status(gw) for _ in range(3)] == [200, 200, 200]
    assert pod.connections == 1  # kept alive and reused
    assert names == []  # no SNI unless asked for (nginx's proxy_ssl_server_name off)


async def test_plain_http_to_an_https_pod_fails(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    context, _ = pod_context(tmp_path)
    pod: Upstream = await upstreams(tls=context)
    gw = await gateway(document(pod.port, {}))
    assert await status(gw) == 502


@pytest.mark.parametrize(
    ("ca", "name", "expected"),
    [
        (POD_CA, None, 200),  # the default name: web.default.svc
        (POD_CA, "pod.internal", 200),
        (POD_CA, "other.internal", 502),
        (WRONG_CA, None, 502),
    ],
    ids=["service-name", "proxy-ssl-name", "wrong-name", "wrong-ca"],
)
async def test_verification(
    upstreams: Any,
    gateway: Any,
    tmp_path: Path,
    ca: CertificateAuthority,
    name: str | None,
    expected: int,
) -> None:
    context, names = pod_context(tmp_path)
    pod: Upstream = await upstreams(tls=context)
    annotations = {
        "backend-protocol": "HTTPS",
        "proxy-ssl-verify": "on",
        "proxy-ssl-secret": "pod-ca",
    }
    if name is not None:
        annotations["proxy-ssl-name"] = name
    gw = await gateway(document(pod.port, annotations, secret("pod-ca", ca)))
    assert await status(gw) == expected
    assert names and names[-1] == (name or "web.default.svc")
    assert (len(pod.requests) == 1) == (expected == 200)


async def test_sni_on_request_and_a_client_certificate(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    context, names = pod_context(tmp_path, require_client=True)
    pod: Upstream = await upstreams(tls=context)
    annotations = {
        "backend-protocol": "HTTPS",
        "proxy-ssl-secret": "gateway-client",
        "proxy-ssl-server-name": "on",
        "proxy-ssl-name": "pod.internal",
    }
    gw = await gateway(
        document(pod.port, annotations, secret("gateway-client", client=GATEWAY_CLIENT))
    )
    assert await status(gw) == 200
    assert names == ["pod.internal"]
    # Without the client certificate the pod refuses the handshake: 502.
    await gw.update(document(pod.port, {"backend-protocol": "HTTPS"}))
    assert await status(gw) == 502


async def test_protocol_limits(upstreams: Any, gateway: Any, tmp_path: Path) -> None:
    context, _ = pod_context(tmp_path, max_tls12=True)
    pod: Upstream = await upstreams(tls=context)
    gw = await gateway(
        document(pod.port, {"backend-protocol": "HTTPS", "proxy-ssl-protocols": "TLSv1.3"})
    )
    assert await status(gw) == 502
    await gw.update(
        document(pod.port, {"backend-protocol": "HTTPS", "proxy-ssl-protocols": "TLSv1.2 TLSv1.3"})
    )
    assert await status(gw) == 200


async def test_a_missing_secret_refuses_the_routes(
    upstreams: Any, gateway: Any, tmp_path: Path
) -> None:
    context, _ = pod_context(tmp_path)
    pod: Upstream = await upstreams(tls=context)
    gw = await gateway(
        document(
            pod.port,
            {"backend-protocol": "HTTPS", "proxy-ssl-secret": "gone", "proxy-ssl-verify": "on"},
        )
    )
    assert await status(gw) == 503
    assert pod.requests == []
    snapshot = gw.gateway.holder.current
    [problem] = [p for p in snapshot.problems if p.code == "MissingSecret"]
    assert problem.field == f"metadata.annotations[{N}proxy-ssl-secret]"
    assert "default/gone does not exist" in problem.reason


async def test_grpc_refuses_the_ingress(upstreams: Any, gateway: Any) -> None:
    pod: Upstream = await upstreams()
    gw = await gateway(document(pod.port, {"backend-protocol": "GRPC"}))
    assert await status(gw) == 404
    snapshot = gw.gateway.holder.current
    assert any("GRPC is not supported" in p.reason for p in snapshot.problems)
