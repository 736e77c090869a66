"""What the supervisor and its workers tell each other (`gateway.workers.channel` carries it).

Supervisor → worker: `Start` (once, first), `FullSnapshot`, `EndpointUpdate`, `ReportRequest`,
`Drain`. Worker → supervisor: `Serving` (once it accepts), `Applied`, `Report`, `Leaving`.
Snapshots arrive in the order they went live in the supervisor; a worker answers each with
`Applied`, which is how the supervisor knows when a change is live everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.workers.channel import Payload
from routing.certificates import KeyPair

Sample = tuple[str, tuple[tuple[str, str], ...], float]
"""A metric sample: its name, its labels in order, its value."""
Family = tuple[str, str, str, tuple[Sample, ...]]
"""A metric family: name, type (counter, gauge, histogram…), help text, samples."""


@dataclass(frozen=True, slots=True)
class FullSnapshot:
    generation: int
    payload: Payload
    """The pickled `Snapshot` (without its compile inputs)."""


@dataclass(frozen=True, slots=True)
class EndpointUpdate:
    generation: int
    payload: Payload
    """The pickled `EndpointDelta` from the worker's snapshot (pickled once for every worker
    that has the same one)."""


@dataclass(frozen=True, slots=True)
class Start:
    """How a worker is to run, and the live snapshot it must serve before it accepts."""

    slot: int
    http_fds: tuple[int, ...]
    https_fds: tuple[int, ...]
    fallback_certificate: KeyPair
    """The self-signed certificate: every worker must present the same one."""
    shutdown_delay: float
    shutdown_timeout: float
    log_level: str
    snapshot: FullSnapshot | None


@dataclass(frozen=True, slots=True)
class ReportRequest:
    number: int


@dataclass(frozen=True, slots=True)
class Drain:
    """Stop as on SIGTERM: keep serving for the delay, stop accepting, finish, exit."""


@dataclass(frozen=True, slots=True)
class Serving:
    pid: int
    generation: int


@dataclass(frozen=True, slots=True)
class Applied:
    generation: int


@dataclass(frozen=True, slots=True)
class Report:
    """The worker's traffic metrics; `number` answers a `ReportRequest` (0: sent unasked)."""

    number: int
    families: tuple[Family, ...]


@dataclass(frozen=True, slots=True)
class Leaving:
    """The worker is draining (a SIGTERM of its own, or `Drain`): replace it now."""
