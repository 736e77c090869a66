"""MSE's upstream connection policy: `connection-policy-tcp-max-connection`,
`-tcp-max-connection-per-endpoint` and `-http-max-request-per-connection` (reference §2).

These are Envoy's circuit-breaker and pool limits, per gateway process: at most so many
connections to the Service, or to each of its pods, open at once, and at most so many requests
on one connection before it is closed. A request that needs a connection while the limit is
reached waits for one to come free (Envoy queues it as pending), for at most the connect
timeout; then it is a failed try (`error`: the next endpoint is tried), and 503 when none is
left. The ConfigMap's `upstream-keepalive-*` keys are the nginx-style global equivalents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, is_set, typed_value
from annotations._validators import count

MAX_CONNECTIONS = Field(
    "connection-policy-tcp-max-connection",
    count,
    default=0,
    value_format="number",
    doc="Connections open at once to the Service's pods, all together; 0 = no limit.",
    scope="service",
    origin="mse",
)
MAX_PER_ENDPOINT = Field(
    "connection-policy-tcp-max-connection-per-endpoint",
    count,
    default=0,
    value_format="number",
    doc="Connections open at once to each pod of the Service; 0 = no limit.",
    scope="service",
    origin="mse",
)
MAX_REQUESTS = Field(
    "connection-policy-http-max-request-per-connection",
    count,
    default=0,
    value_format="number",
    doc="Requests sent on one pod connection before it is closed (over "
    "`upstream-keepalive-requests`); 0 = the ConfigMap's.",
    scope="service",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (MAX_CONNECTIONS, MAX_PER_ENDPOINT, MAX_REQUESTS)


@dataclass(frozen=True, slots=True)
class ConnectionPolicy:
    """Limits on the connections to one Service's pods; 0 means no limit of that kind."""

    max_connections: int = 0
    max_per_endpoint: int = 0
    max_requests: int = 0


def parse(annotations: Mapping[str, str]) -> ConnectionPolicy | None:
    """The policy, or None when it limits nothing."""
    values = [typed_value(annotations, field, int) for field in FIELDS]  # validates all three
    if not is_set(annotations, *FIELDS) or not any(values):
        return None
    return ConnectionPolicy(*values)
