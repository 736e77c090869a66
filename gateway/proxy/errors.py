"""Why an upstream try failed, with the status a client gets when no retry is left.

nginx's semantics (reliability.md §4.3): a timeout is 504; a refused or reset connection and an
invalid response are 502.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """A try that failed before any response byte reached the client."""

    status = 502
    condition = "error"
    """The `proxy-next-upstream` condition this failure falls under."""
    unhealthy = True
    """Whether it counts against the pod for passive health."""


class ConnectFailed(UpstreamError):
    """The TCP connection could not be made: the request never reached the pod."""


class ConnectTimeout(ConnectFailed):
    """Connecting took longer than `proxy-connect-timeout`."""

    status = 504
    condition = "timeout"


class ConnectionLimit(ConnectFailed):
    """No connection to the pod came free under the Service's connection policy in time
    (Envoy's circuit-breaker overflow, answered 503). The pod is not to blame."""

    status = 503
    unhealthy = False


class UpstreamTimeout(UpstreamError):
    """No byte from the pod within `proxy-read-timeout` (or it would not take the body)."""

    status = 504
    condition = "timeout"


class UpstreamReset(UpstreamError):
    """The pod closed or reset the connection before a complete response head."""


class InvalidResponse(UpstreamError):
    """The pod's response head could not be parsed or is ambiguous."""

    condition = "invalid_header"
