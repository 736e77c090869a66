"""Which Secrets and ConfigMaps the gateway needs (issue #4 §4): pure functions of the objects.

A cluster holds far more Secrets and ConfigMaps than an ingress gateway uses, and Secrets are
sensitive. The control plane keeps in memory only those named here:

* the global-settings ConfigMap: `--configmap`, else the ConfigMap in `spec.parameters` of our
  IngressClass (as the MSE controller ties its configuration to the class);
* per Ingress: the TLS Secrets of `spec.tls`, the Secrets of `auth-secret`, `auth-tls-secret`
  and `proxy-ssl-secret`, and the ConfigMap of `custom-headers` (under any of the three
  annotation prefixes; `name` means the Ingress's namespace, `namespace/name` any namespace).
"""

from __future__ import annotations

from collections.abc import Iterable

from annotations import find
from routing.classes import ClassSettings
from routing.sources import Ingress, IngressClass

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name)."""

SECRET_ANNOTATIONS = ("auth-secret", "auth-tls-secret", "proxy-ssl-secret")
CONFIGMAP_ANNOTATIONS = ("custom-headers",)


def ingress_references(ingress: Ingress) -> frozenset[ObjectKey]:
    """The Secrets and ConfigMaps one Ingress names."""
    namespace = ingress.meta.namespace
    found = {("Secret", namespace, tls.secret_name) for tls in ingress.tls if tls.secret_name}
    annotations = ingress.meta.annotations or {}
    for kind, names in (("Secret", SECRET_ANNOTATIONS), ("ConfigMap", CONFIGMAP_ANNOTATIONS)):
        for name in names:
            hit = find(annotations, name)
            if hit is not None and hit[1].strip():
                ref_namespace, _, ref_name = hit[1].strip().rpartition("/")
                found.add((kind, ref_namespace or namespace, ref_name))
    return frozenset(found)


def class_configmap(
    classes: Iterable[IngressClass], settings: ClassSettings, own_namespace: str
) -> tuple[str, str] | None:
    """The ConfigMap named by `spec.parameters` of our IngressClass (the one named
    `--ingress-class` with our controller); its namespace defaults to the gateway's own."""
    for ingress_class in classes:
        parameters = ingress_class.parameters
        if (
            ingress_class.meta.name == settings.ingress_class
            and ingress_class.controller == settings.controller_class
            and parameters is not None
            and (parameters.api_group, parameters.kind) == ("", "ConfigMap")
        ):
            return parameters.namespace or own_namespace, parameters.name
    return None


def global_configmap(
    flag: tuple[str, str] | None,
    classes: Iterable[IngressClass],
    settings: ClassSettings,
    own_namespace: str,
) -> tuple[str, str] | None:
    """`--configmap` when given, else our IngressClass's parameters."""
    return flag or class_configmap(classes, settings, own_namespace)
