"""Only referenced Secrets and ConfigMaps are kept (issue #4 §4), and the global ConfigMap can
come from our IngressClass's `spec.parameters`."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.control.apisink import StoreSink
from gateway.control.store import Store
from routing.compile import CompileSettings, compile_snapshot
from tests.certs import CertificateAuthority, tls_secret

PAIR = CertificateAuthority().issue("web.example.com")


def secret(name: str, namespace: str = "apps", rv: str = "1") -> dict[str, Any]:
    obj = tls_secret(name, PAIR, namespace)
    obj["metadata"]["resourceVersion"] = rv
    return obj


def configmap(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "data": data,
    }


def ingress(
    name: str,
    *,
    tls: str = "",
    annotations: dict[str, str] | None = None,
    rv: str = "1",
    host: str = "a.test",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ingressClassName": "gateway",
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "web", "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ],
    }
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": tls}]
    return {
        "metadata": {
            "name": name,
            "namespace": "apps",
            "resourceVersion": rv,
            "uid": f"uid-{name}",
            "annotations": annotations or {},
        },
        "spec": spec,
    }


class Sink:
    def __init__(self, settings: CompileSettings | None = None) -> None:
        self.store = Store()
        self.fetches: list[tuple[str, str, str]] = []
        self.sink = StoreSink(self.store, asyncio.Event(), settings, self.fetches.append)

    def kept(self, kind: str) -> set[str]:
        state = self.store.state()
        views = state.secrets if kind == "Secret" else state.configmaps
        return {f"{v.meta.namespace}/{v.meta.name}" for v in views}


def test_only_referenced_secrets_are_kept_from_a_list() -> None:
    s = Sink()
    s.sink.replace("Ingress", [ingress("web", tls="web-tls")])
    s.sink.replace("Secret", [secret("web-tls"), secret("unrelated"), secret("web-tls", "other")])
    assert s.kept("Secret") == {"apps/web-tls"}


def test_every_kind_of_reference_is_followed_with_all_three_prefixes() -> None:
    s = Sink()
    annotations = {
        "nginx.ingress.kubernetes.io/auth-secret": "basic",
        "mse.ingress.kubernetes.io/auth-tls-secret": "pki/client-ca",
        "higress.io/proxy-ssl-secret": "upstream-tls",
        "nginx.ingress.kubernetes.io/custom-headers": "apps/headers",
    }
    s.sink.replace("Ingress", [ingress("web", annotations=annotations)])
    s.sink.replace(
        "Secret",
        [secret("basic"), secret("client-ca", "pki"), secret("upstream-tls"), secret("other")],
    )
    s.sink.replace("ConfigMap", [configmap("headers", "apps", {}), configmap("x", "apps", {})])
    assert s.kept("Secret") == {"apps/basic", "pki/client-ca", "apps/upstream-tls"}
    assert s.kept("ConfigMap") == {"apps/headers"}


def test_a_new_reference_is_fetched_and_a_dropped_one_forgotten() -> None:
    s = Sink()
    s.sink.replace("Ingress", [ingress("web")])
    s.sink.replace("Secret", [secret("later")])
    assert s.kept("Secret") == set()
    s.sink.apply("Ingress", "MODIFIED", ingress("web", tls="later", rv="2"))
    assert s.fetches == [("Secret", "apps", "later")]
    s.sink.fetched("Secret", secret("later"))
    assert s.kept("Secret") == {"apps/later"}
    s.sink.apply("Secret", "MODIFIED", secret("later", rv="2"))
    s.sink.apply("Ingress", "DELETED", ingress("web", tls="later", rv="3"))
    assert s.kept("Secret") == set()
    s.sink.apply("Secret", "MODIFIED", secret("later", rv="4"))
    assert s.kept("Secret") == set()


def test_a_fetch_never_overwrites_what_the_watch_delivered() -> None:
    s = Sink()
    s.sink.replace("Ingress", [ingress("web", tls="t")])
    s.sink.replace("Secret", [])
    s.sink.apply("Secret", "ADDED", secret("t", rv="9"))
    s.sink.fetched("Secret", secret("t", rv="5"))
    [kept] = s.store.state().secrets
    assert kept.meta.resource_version == "9"


def test_a_refused_version_keeps_the_secret_of_the_serving_version() -> None:
    s = Sink()
    s.sink.replace("Ingress", [ingress("web", tls="old")])
    s.sink.replace("Secret", [secret("old"), secret("new")])
    bad = ingress(
        "web", tls="new", rv="2", annotations={"nginx.ingress.kubernetes.io/use-regex": "maybe"}
    )
    s.sink.apply("Ingress", "MODIFIED", bad)
    assert "apps/old" in s.kept("Secret")
    assert ("Secret", "apps", "new") in s.fetches


def test_the_global_configmap_comes_from_our_ingress_class_parameters() -> None:
    settings = CompileSettings(own_namespace="gw")
    s = Sink(settings)
    ours = {
        "metadata": {"name": "gateway"},
        "spec": {
            "controller": "ingress-gateway.dev/controller",
            "parameters": {"kind": "ConfigMap", "name": "gateway-settings"},
        },
    }
    s.sink.replace("IngressClass", [ours])
    s.sink.replace("Ingress", [])
    s.sink.replace(
        "ConfigMap",
        [
            configmap("gateway-settings", "gw", {"proxy-read-timeout": "7"}),
            configmap("gateway-settings", "elsewhere", {}),
        ],
    )
    assert s.kept("ConfigMap") == {"gw/gateway-settings"}
    snapshot = compile_snapshot(s.store.state(), settings)
    assert snapshot.config.proxy_read_timeout == 7.0

    ours["spec"]["parameters"]["namespace"] = "elsewhere"  # a 1.21+ server's field
    s.sink.apply("IngressClass", "MODIFIED", ours)
    assert s.fetches[-1] == ("ConfigMap", "elsewhere", "gateway-settings")
    assert s.kept("ConfigMap") == set()


def test_the_configmap_flag_wins_over_the_class_parameters() -> None:
    settings = CompileSettings(configmap=("flag", "settings"), own_namespace="gw")
    s = Sink(settings)
    s.sink.replace(
        "IngressClass",
        [
            {
                "metadata": {"name": "gateway"},
                "spec": {
                    "controller": "ingress-gateway.dev/controller",
                    "parameters": {"kind": "ConfigMap", "name": "from-class"},
                },
            }
        ],
    )
    s.sink.replace(
        "ConfigMap",
        [configmap("settings", "flag", {"keep-alive": "9"}), configmap("from-class", "gw", {})],
    )
    assert s.kept("ConfigMap") == {"flag/settings"}
    assert compile_snapshot(s.store.state(), settings).config.keep_alive == 9.0
