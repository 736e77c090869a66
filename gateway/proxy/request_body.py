"""The request body as one exchange sees it: how much arrived, what is kept, what limits it.

The body is never held whole (DESIGN.md invariant 8). What this keeps is the start of it, up to
`replay_limit` bytes, for two reasons: a retry must send the pod the same bytes again, and until
the first try has a connection the pieces have nowhere else to go. Once a try is sending and
the body outgrows the limit, the kept bytes are dropped (`kept` becomes None) and no retry is
possible after that (nginx's rule for a body it could not keep).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from annotations.body import BodyLimits
    from routing.globals import GlobalConfig

REPLAY_LIMIT: Final = 64 * 1024
"""Request body bytes kept for a retry (unless `client-body-buffer-size` says otherwise); also
the most held before reads pause while no try takes the body."""


class RequestBody:
    """Counts and keeps one request's body; the exchange does the sending."""

    __slots__ = ("complete", "discard", "kept", "kept_bytes", "limit", "received", "replay_limit")

    def __init__(self, has_body: bool) -> None:
        self.complete = not has_body
        self.received = 0
        self.kept: list[bytes] | None = []
        """The body so far while it fits `replay_limit`; None once it has been streamed away."""
        self.kept_bytes = 0
        self.discard = False
        """Set when the body must go nowhere (the error page request has none)."""
        self.limit: int | None = None
        """The route's largest body (0: unlimited); None until routed."""
        self.replay_limit = REPLAY_LIMIT

    def apply_limits(
        self, own: BodyLimits | None, config: GlobalConfig, declared: int | None
    ) -> bool:
        """Take the route's limits over the global one; True when the body is already known
        too large (`declared` is the Content-Length, if any)."""
        limit = config.proxy_body_size
        if own is not None:
            limit = own.max_size if own.max_size is not None else limit
            self.replay_limit = own.keep if own.keep is not None else self.replay_limit
        self.limit = limit
        return bool(limit) and max(declared or 0, self.received) > limit

    def arrived(self, size: int) -> bool:
        """Count `size` more bytes; True when the body just went over the limit."""
        self.received += size
        limit = self.limit
        return limit is not None and 0 < limit < self.received

    def keep(self, data: bytes, sending: bool) -> bool:
        """Hold `data` for a replay while it fits; True when reading should pause because
        nothing takes the body yet and what waits has reached the limit."""
        kept = self.kept
        if kept is not None:
            if sending and self.kept_bytes + len(data) > self.replay_limit:
                self.kept = None
            else:
                kept.append(data)
                self.kept_bytes += len(data)
        return not sending and self.kept_bytes > self.replay_limit

    @property
    def replayable(self) -> bool:
        """Whether everything sent so far is still held, so another try can send it again."""
        return self.kept is not None

    def replay(self) -> bytes:
        """The bytes a new try sends after the head."""
        return b"".join(self.kept or ())

    def forget(self) -> None:
        """Start over with no body (the error page request sends none)."""
        self.kept, self.kept_bytes = [], 0
