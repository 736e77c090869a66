"""`ClusterState`: the immutable input of one compile, as the store hands it over."""

from __future__ import annotations

from dataclasses import dataclass

from routing.admission import AdmittedIngress
from routing.problems import Problem
from routing.sources import ConfigMap, Endpoints, EndpointSlice, IngressClass, Secret, Service


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Everything the compiler reads. Ingresses are the accepted versions only."""

    ingress_classes: tuple[IngressClass, ...] = ()
    ingresses: tuple[AdmittedIngress, ...] = ()
    services: tuple[Service, ...] = ()
    endpoint_slices: tuple[EndpointSlice, ...] = ()
    endpoints: tuple[Endpoints, ...] = ()
    secrets: tuple[Secret, ...] = ()
    configmaps: tuple[ConfigMap, ...] = ()
    problems: tuple[Problem, ...] = ()
    """Problems found converting and admitting objects (refused versions included)."""
