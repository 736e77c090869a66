"""Input views: the typed, frozen shape of the cluster objects the compiler reads.

These carry only the fields the gateway uses, with no client-library types, so the compiler can
be tested with plain values. `routing.convert` builds them from the dicts the API server (or a
manifest file) gives; that is the only code that knows the Kubernetes object layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from routing.certificates import KeyPair

PathType = Literal["Exact", "Prefix", "ImplementationSpecific"]
PATH_TYPES: tuple[PathType, ...] = ("Exact", "Prefix", "ImplementationSpecific")


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """The metadata every view keeps."""

    kind: str
    namespace: str
    """Empty for cluster-scoped kinds (IngressClass)."""
    name: str
    uid: str = ""
    resource_version: str = ""
    creation_timestamp: datetime | None = None
    position: int = 0
    """Order of appearance in file mode (files in path order, documents in order)."""
    origin: str = ""
    """The manifest file the object came from; empty when it came from the API server."""
    annotations: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name): the identity of the object in the store."""
        return (self.kind, self.namespace, self.name)

    @property
    def ref(self) -> str:
        """``namespace/name``, or ``name`` for cluster-scoped objects."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class ServiceBackendRef:
    """`backend.service` of an Ingress path or of `spec.defaultBackend`."""

    service: str
    port: int | str
    """Service port number, or its name."""


@dataclass(frozen=True, slots=True)
class IngressPath:
    """One `spec.rules[].http.paths[]` entry."""

    path: str
    path_type: PathType
    backend: ServiceBackendRef


@dataclass(frozen=True, slots=True)
class IngressRule:
    """One `spec.rules[]` entry; `host` is normalised (lower case, no trailing dot), "" = any."""

    host: str
    paths: tuple[IngressPath, ...]


@dataclass(frozen=True, slots=True)
class IngressTLS:
    """One `spec.tls[]` entry."""

    hosts: tuple[str, ...]
    secret_name: str


@dataclass(frozen=True, slots=True)
class Ingress:
    """networking.k8s.io/v1 Ingress."""

    meta: ObjectMeta
    class_name: str | None
    default_backend: ServiceBackendRef | None
    rules: tuple[IngressRule, ...]
    tls: tuple[IngressTLS, ...] = ()


@dataclass(frozen=True, slots=True)
class ClassParameters:
    """`spec.parameters` of an IngressClass: the object holding the class's configuration."""

    kind: str
    name: str
    namespace: str = ""
    """Empty when the server has no such field (before Kubernetes 1.21) or it is not set."""
    api_group: str = ""
    """Empty for the core group (ConfigMap)."""


@dataclass(frozen=True, slots=True)
class IngressClass:
    """networking.k8s.io/v1 IngressClass."""

    meta: ObjectMeta
    controller: str
    is_default: bool
    parameters: ClassParameters | None = None


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One `spec.ports[]` entry of a Service."""

    name: str
    port: int
    target_port: int | str


@dataclass(frozen=True, slots=True)
class Service:
    """core/v1 Service."""

    meta: ObjectMeta
    type: str
    ports: tuple[ServicePort, ...]
    external_name: str | None = None
    cluster_ip: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointPort:
    """A named port of an EndpointSlice or Endpoints subset."""

    name: str
    port: int


@dataclass(frozen=True, slots=True)
class SliceEndpoint:
    """One `endpoints[]` entry of an EndpointSlice with its conditions."""

    addresses: tuple[str, ...]
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    """discovery.k8s.io/v1 (or v1beta1, same shape) EndpointSlice."""

    meta: ObjectMeta
    service_name: str
    """From the `kubernetes.io/service-name` label; "" when the slice belongs to no Service."""
    ports: tuple[EndpointPort, ...]
    endpoints: tuple[SliceEndpoint, ...]


@dataclass(frozen=True, slots=True)
class EndpointSubset:
    """One `subsets[]` entry of a core/v1 Endpoints; only ready addresses are kept."""

    addresses: tuple[str, ...]
    ports: tuple[EndpointPort, ...]


@dataclass(frozen=True, slots=True)
class Endpoints:
    """core/v1 Endpoints (named like its Service)."""

    meta: ObjectMeta
    subsets: tuple[EndpointSubset, ...]


@dataclass(frozen=True, slots=True)
class Secret:
    """core/v1 Secret, data already base64-decoded."""

    meta: ObjectMeta
    type: str
    data: Mapping[str, bytes]
    key_pair: KeyPair | None = None
    """`tls.crt` and `tls.key`, checked to be a certificate and its key, when both are set."""


@dataclass(frozen=True, slots=True)
class ConfigMap:
    """core/v1 ConfigMap."""

    meta: ObjectMeta
    data: Mapping[str, str]


View = Ingress | IngressClass | Service | EndpointSlice | Endpoints | Secret | ConfigMap
