"""Which failed tries move to the next endpoint: nginx's `proxy_next_upstream` rules.

One `TryBudget` per request and target. The conditions, tries and time budget come from the
route's `proxy-next-upstream*` annotations over the ConfigMap's. On top of them nginx's rules
always hold:

* nothing is retried once a byte has gone to the client (the caller never asks then);
* a refused or timed-out connection is retried unless the conditions say `off`: the request
  never reached the pod, so it is safe whatever the method;
* otherwise the failure's condition must be listed (`error`, `timeout`, `invalid_header`,
  `http_<status>`), the method idempotent unless `non_idempotent` is listed, and the request
  body, if any, still kept whole for a replay (see `request_body.REPLAY_LIMIT`);
* no try starts after `proxy-next-upstream-timeout`, nor beyond the tries allowed or the
  endpoints there are.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from gateway.proxy.caches import remember
from gateway.proxy.errors import ConnectFailed, UpstreamError
from gateway.proxy.request import IDEMPOTENT

if TYPE_CHECKING:
    from annotations.retries import Retries
    from routing.globals import GlobalConfig
    from routing.model import Endpoint


class StatusRetried(UpstreamError):
    """The pod answered with a status listed as `http_<status>`, and another try is allowed:
    the answer is dropped unread, as nginx does. As in nginx, a 403 or 404 is not held against
    the pod (passive health)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the pod answered {status}")
        self.status = status
        self.condition = f"http_{status}"
        self.unhealthy = status not in (403, 404)


_STATUSES: Final[dict[frozenset[str], frozenset[int]]] = {}
"""`_statuses` of each set of conditions seen (a handful: the ConfigMap's and the annotations')."""
_STATUSES_LIMIT: Final = 64


def _statuses(conditions: frozenset[str]) -> frozenset[int]:
    """The `http_<status>` conditions as numbers; derived once per set of conditions, not per
    request. A dict rather than `lru_cache`, whose call costs about what deriving them does."""
    statuses = _STATUSES.get(conditions)
    if statuses is None:
        statuses = frozenset(int(c[5:]) for c in conditions if c.startswith("http_"))
        remember(_STATUSES, conditions, statuses, _STATUSES_LIMIT)
    return statuses


class TryBudget:
    """The tries of one request to one target, and whether a failure may use another."""

    __slots__ = ("conditions", "deadline", "statuses", "tried", "tries")

    def __init__(
        self, own: Retries | None, config: GlobalConfig, endpoints: int, now: float
    ) -> None:
        conditions = config.proxy_next_upstream
        tries = config.proxy_next_upstream_tries
        timeout = config.proxy_next_upstream_timeout
        if own is not None:
            conditions = own.conditions if own.conditions is not None else conditions
            tries = own.tries if own.tries is not None else tries
            timeout = own.timeout if own.timeout is not None else timeout
        self.conditions = conditions
        self.statuses = _statuses(conditions)
        """The `http_<status>` conditions, as numbers."""
        self.tries = min(tries, endpoints) if tries else endpoints
        self.deadline = now + timeout if timeout else math.inf
        self.tried: set[Endpoint] = set()

    def another_try(self, now: float) -> bool:
        """Whether a new try may start (tries left, endpoints untried, time left)."""
        return len(self.tried) < self.tries and now < self.deadline

    def may_retry(self, err: UpstreamError, method: str, body_kept: bool, now: float) -> bool:
        """Whether the failure `err` may move to another endpoint."""
        conditions = self.conditions
        if "off" in conditions or not self.another_try(now):
            return False
        if isinstance(err, ConnectFailed):
            return True  # the request never reached the pod
        if err.condition not in conditions:
            return False
        if method not in IDEMPOTENT and "non_idempotent" not in conditions:
            return False
        return body_kept
