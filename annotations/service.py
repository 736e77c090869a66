"""`service-upstream`: send to the Service's cluster IP instead of its endpoints (reference §2).

ingress-nginx's option for meshes and for Services whose endpoints the gateway should not see:
the route has one upstream, the Service's ClusterIP and port, and kube-proxy (or the mesh)
picks the pod. So the gateway's balancing, affinity, passive health and retries to another
endpoint have nothing to choose from, as in ingress-nginx.
"""

from __future__ import annotations

from collections.abc import Mapping

from annotations._fields import Field, is_set, typed_value
from annotations._validators import boolean

SERVICE_UPSTREAM = Field(
    "service-upstream",
    boolean,
    default=False,
    value_format='"true" or "false"',
    doc="Send to the Service's ClusterIP and port instead of its pods (kube-proxy or the mesh "
    "picks the pod; no endpoint choice, no retry on another pod). Services without a "
    "ClusterIP use their endpoints, with a warning.",
)

FIELDS: tuple[Field, ...] = (SERVICE_UPSTREAM,)


def parse(annotations: Mapping[str, str]) -> bool | None:
    """True when the Ingress asks for its Services' cluster IPs, None when the key is unset."""
    if not is_set(annotations, SERVICE_UPSTREAM):
        return None
    return typed_value(annotations, SERVICE_UPSTREAM, bool)
