"""The snapshot: the only object the control plane hands to the data plane.

Theory of operation
-------------------
A `Snapshot` joins two parts that change at very different rates:

* the `RouteTable` (from Ingresses and IngressClasses: changes slowly) with its `Matcher`, and
* the endpoint sets (from Services, EndpointSlices, Endpoints: change constantly), a mapping
  from `BackendKey` to the `Endpoint`s behind it.

Routes never hold endpoints, so a pod coming or going builds a new endpoint mapping and a new
Snapshot that reuses the same RouteTable and Matcher objects (DESIGN.md invariant 2), and
balancer state keyed by `BackendKey` survives.

It has a module of its own, apart from `routing.model`, because it is compiled with the proxy
(`gateway.compiled`): a compiled dataclass needs the classes of its fields at import time, and
the matcher's module imports the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from routing.frozen import Frozen
from routing.globals import GlobalConfig
from routing.match import Matcher
from routing.model import BackendKey, Endpoint, RouteTable
from routing.problems import Problem
from routing.tls import TlsTable


@dataclass(frozen=True, slots=True)
class Snapshot(Frozen):
    """Route table, matcher and endpoint sets, served together and swapped together."""

    table: RouteTable
    matcher: Matcher
    endpoints: Mapping[BackendKey, tuple[Endpoint, ...]]
    config: GlobalConfig
    """Global settings from the gateway's ConfigMap, swapped together with the routes."""
    problems: tuple[Problem, ...]
    digest: str
    tls: TlsTable = field(default_factory=TlsTable)
    """Certificates by server name, swapped with the routes that send clients to them."""
    inputs: object | None = field(default=None, compare=False, repr=False)
    """What the route table was compiled from; equal inputs let the next compile reuse it.
    (`object | None` rather than `object`: mypyc's dataclasses cannot name `object` alone.)"""
