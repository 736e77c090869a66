"""What a route takes from objects other than its Ingress, resolved once per Ingress.

Header ConfigMaps (`custom-headers`, `auth-proxy-set-headers`) and the users' Secret
(`auth-secret`) are read here while the route table is built, so that routes carry finished
policies and the proxy never looks objects up. Problems name the Ingress and the annotation
that points at the object: a missing object an Ingress needs for its protection (users, the
auth service's headers) is an error and its routes answer 503; a missing `custom-headers`
ConfigMap is a warning and no headers are added.
"""

from __future__ import annotations

from collections.abc import Sequence

from annotations import find
from annotations.headers import header_name, header_value
from routing.admission import AdmittedIngress
from routing.auth import ExternalCheck, RouteAuth, password_file
from routing.headers import HeaderPolicy, header_policy
from routing.podtls import PodTls, pod_tls
from routing.problems import Problem, Severity
from routing.sources import ConfigMap, Secret

IngressRef = tuple[str, str]


class Attachments:
    """Per-Ingress header policies and authentication, with their problems."""

    def __init__(
        self, configmaps: Sequence[ConfigMap], secrets: Sequence[Secret], problems: list[Problem]
    ) -> None:
        self.configmaps = {(c.meta.namespace, c.meta.name): c.data for c in configmaps}
        self.secrets = {(s.meta.namespace, s.meta.name): s.data for s in secrets}
        self._secret_objects = {(s.meta.namespace, s.meta.name): s for s in secrets}
        self.problems = problems
        self._policies: dict[IngressRef, HeaderPolicy | None] = {}
        self._auths: dict[IngressRef, RouteAuth | None] = {}
        self._pod_tls: dict[tuple[IngressRef, str], PodTls | None] = {}

    def header_policy(self, admitted: AdmittedIngress) -> HeaderPolicy | None:
        """The Ingress's compiled header policy, with its `custom-headers` ConfigMap's data."""
        ref = _ref(admitted)
        if ref not in self._policies:
            control = admitted.config.headers
            policy = None
            if control is not None:
                custom = None
                if control.custom_headers is not None:
                    named = control.custom_headers
                    custom = self._configmap_headers(admitted, named, "custom-headers") or {}
                policy = header_policy(control, custom)
            self._policies[ref] = policy
        return self._policies[ref]

    def auth(self, admitted: AdmittedIngress) -> RouteAuth | None:
        """The Ingress's users (from the Secret `auth-secret` names) and external check (with
        the headers of the ConfigMap `auth-proxy-set-headers` names); None without either."""
        ref = _ref(admitted)
        if ref in self._auths:
            return self._auths[ref]
        basic_config, external_config = admitted.config.auth, admitted.config.extauth
        basic, external = None, None
        if basic_config is not None and basic_config.basic is not None:
            field = annotation_field(admitted, "auth-secret")
            secrets = self.secrets
            basic, found = password_file(
                basic_config.basic, admitted.source.meta.namespace, secrets
            )
            for severity, reason, code in found:
                self._report(admitted, field, reason, severity, code)
        if external_config is not None:
            headers: dict[str, str] | None = {}
            if external_config.proxy_set_headers is not None:
                named = external_config.proxy_set_headers
                headers = self._configmap_headers(admitted, named, "auth-proxy-set-headers")
            set_headers = tuple(sorted((headers or {}).items()))
            external = ExternalCheck(external_config, set_headers, usable=headers is not None)
        auth = None
        if basic is not None or external is not None:  # `satisfy` alone changes nothing
            satisfy_any = basic_config is not None and basic_config.satisfy_any
            auth = RouteAuth(basic, satisfy_any, external)
        self._auths[ref] = auth
        return auth

    def pod_tls(self, admitted: AdmittedIngress, service: str) -> PodTls | None:
        """TLS towards the pods of `service` (`backend-protocol: HTTPS`), or None."""
        settings = admitted.config.upstreamtls
        if settings is None:
            return None
        cached = (_ref(admitted), service)
        if cached in self._pod_tls:
            return self._pod_tls[cached]
        namespace = admitted.source.meta.namespace
        secret = None
        if settings.secret is not None:
            ref = (settings.secret[0] or namespace, settings.secret[1])
            secret = self._secret_objects.get(ref)
        resolved, problem = pod_tls(settings, namespace, service, secret)
        if problem:
            field = annotation_field(admitted, "proxy-ssl-secret")
            reason = f"{problem}; the routes of this Ingress answer 503 until it does"
            self._report(admitted, field, reason, "error", "MissingSecret")
        self._pod_tls[cached] = resolved
        return resolved

    def _configmap_headers(
        self, admitted: AdmittedIngress, named: tuple[str | None, str], key: str
    ) -> dict[str, str] | None:
        """The valid entries of the headers ConfigMap that the annotation `key` names (the
        rest are warnings), or None when it does not exist."""
        namespace, name = named[0] or admitted.source.meta.namespace, named[1]
        field = annotation_field(admitted, key)
        data = self.configmaps.get((namespace, name))
        if data is None:
            reason = f"ConfigMap {namespace}/{name} does not exist"
            if key == "custom-headers":
                reason += "; no custom headers are added"
                self._report(admitted, field, reason, "warning", "MissingConfigMap")
            else:
                reason += "; the routes of this Ingress answer 503 until it does"
                self._report(admitted, field, reason, "error", "MissingConfigMap")
            return None
        headers = {}
        for entry, value in sorted(data.items()):
            try:
                headers[header_name(entry)] = header_value(value)
            except ValueError as err:
                reason = (
                    f"ConfigMap {namespace}/{name} key {entry!r}: {err}; that header is skipped"
                )
                self._report(admitted, field, reason, "warning", "InvalidConfigMap")
        return headers

    def _report(
        self, admitted: AdmittedIngress, field: str, reason: str, severity: Severity, code: str
    ) -> None:
        meta = admitted.source.meta
        self.problems.append(
            Problem("Ingress", meta.namespace, meta.name, field, reason, severity, code)
        )


def _ref(admitted: AdmittedIngress) -> IngressRef:
    return admitted.source.meta.namespace, admitted.source.meta.name


def annotation_field(admitted: AdmittedIngress, name: str) -> str:
    """`metadata.annotations[<key as written>]` for messages about the annotation `name`."""
    found = find(admitted.source.meta.annotations or {}, name)
    return f"metadata.annotations[{found[0] if found else name}]"
