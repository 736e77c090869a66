"""Endpoint resolution: from a Service port to the pod addresses behind it.

Rules (issue #2, §7):
* the Ingress names a Service port by number or by name; the pod port is found through the port
  *name* that EndpointSlices and Endpoints carry, so a named `targetPort` resolves per pod;
* EndpointSlices (label `kubernetes.io/service-name`, several per Service) are used when any
  exist for the Service, the Endpoints object only otherwise: never both, because a real cluster
  mirrors one into the other and using both would double-count;
* only ready endpoints; serving-and-terminating ones only when no endpoint is ready (the
  ProxyTerminatingEndpoints behaviour of kube-proxy); duplicates removed; sorted, so the same
  objects always give the same set;
* an ExternalName Service resolves to its DNS name;
* with `service-upstream`, a Service resolves to its ClusterIP and port (one endpoint); one
  without a ClusterIP (headless, ExternalName) resolves as above, with a note saying so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from routing.model import FIRST_PORT, Endpoint
from routing.sources import Endpoints, EndpointSlice, Service, ServicePort


@dataclass(frozen=True, slots=True)
class Resolution:
    """Endpoints of one Service port, or why there are none to be had."""

    endpoints: tuple[Endpoint, ...]
    missing: str | None = None
    """Set when the Service or its port does not exist (the route answers 503)."""
    note: str | None = None
    """Set when the resolution is not what was asked for (no ClusterIP for `service-upstream`)."""


class EndpointIndex:
    """Services, EndpointSlices and Endpoints indexed by (namespace, service name)."""

    def __init__(
        self,
        services: Iterable[Service],
        slices: Iterable[EndpointSlice],
        endpoints: Iterable[Endpoints],
    ) -> None:
        self.services = {(s.meta.namespace, s.meta.name): s for s in services}
        self.slices: dict[tuple[str, str], list[EndpointSlice]] = defaultdict(list)
        for endpoint_slice in slices:
            if endpoint_slice.service_name:
                self.slices[(endpoint_slice.meta.namespace, endpoint_slice.service_name)].append(
                    endpoint_slice
                )
        self.endpoints = {(e.meta.namespace, e.meta.name): e for e in endpoints}

    def resolve(
        self, namespace: str, service_name: str, port: int | str, *, cluster_ip: bool = False
    ) -> Resolution:
        """The endpoints for the Service port an Ingress backend names (or its cluster IP)."""
        service = self.services.get((namespace, service_name))
        if service is None:
            return Resolution((), f"Service {namespace}/{service_name} does not exist")
        service_port = _find_port(service, port)
        if service_port is None:
            wanted = "ports" if port == FIRST_PORT else f"port {port!r}"
            return Resolution((), f"Service {namespace}/{service_name} has no {wanted}")
        if cluster_ip:
            address = service.cluster_ip
            if address and address != "None" and service.type != "ExternalName":
                return Resolution((Endpoint(address, service_port.port),))
            resolution = self.resolve(namespace, service_name, port)
            note = f"Service {namespace}/{service_name} has no ClusterIP; its endpoints are used"
            return Resolution(resolution.endpoints, resolution.missing, note)
        if service.type == "ExternalName" and service.external_name:
            target = service_port.target_port
            number = target if isinstance(target, int) else service_port.port
            return Resolution((Endpoint(service.external_name, number, is_dns=True),))
        slices = self.slices.get((namespace, service_name))
        if slices:
            return Resolution(_from_slices(slices, service_port.name))
        legacy = self.endpoints.get((namespace, service_name))
        if legacy is not None:
            return Resolution(_from_endpoints(legacy, service_port.name))
        return Resolution(())


def _find_port(service: Service, port: int | str) -> ServicePort | None:
    if port == FIRST_PORT:
        return service.ports[0] if service.ports else None
    for candidate in service.ports:
        if candidate.port == port if isinstance(port, int) else candidate.name == port:
            return candidate
    return None


def _from_slices(slices: Iterable[EndpointSlice], port_name: str) -> tuple[Endpoint, ...]:
    ready: set[Endpoint] = set()
    terminating: set[Endpoint] = set()
    for endpoint_slice in slices:
        number = next((p.port for p in endpoint_slice.ports if p.name == port_name), None)
        if number is None:
            continue
        for endpoint in endpoint_slice.endpoints:
            if endpoint.ready:
                ready.update(Endpoint(a, number) for a in endpoint.addresses)
            elif endpoint.serving and endpoint.terminating:
                terminating.update(Endpoint(a, number) for a in endpoint.addresses)
    return _sorted(ready or terminating)


def _from_endpoints(endpoints: Endpoints, port_name: str) -> tuple[Endpoint, ...]:
    found: set[Endpoint] = set()
    for subset in endpoints.subsets:
        number = next((p.port for p in subset.ports if p.name == port_name), None)
        if number is not None:
            found.update(Endpoint(a, number) for a in subset.addresses)
    return _sorted(found)


def _sorted(endpoints: set[Endpoint]) -> tuple[Endpoint, ...]:
    return tuple(sorted(endpoints, key=lambda e: (e.address, e.port)))
