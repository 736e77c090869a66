"""Passive health: endpoints that keep failing are taken out of rotation for a while.

nginx's `max_fails` / `fail_timeout`, with Envoy's cap on outlier ejection: an endpoint whose
tries failed `upstream-max-fails` times within `upstream-fail-timeout` seconds (a refused or
reset connection, a timeout, an invalid response, or a status `proxy-next-upstream` lists) is
ejected for `upstream-fail-timeout` seconds, then tried again like any other. A successful try
clears its count. An ejection that would leave fewer than half of the backend's endpoints in
rotation does not happen, so a Service with one endpoint never loses it and a widespread
failure (the pods are fine, their database is not) cannot empty a backend.

State is per endpoint, so every route sending to a pod shares what was learnt about it. When
every endpoint left for a request is ejected, the ejected ones are tried rather than failing the
request unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Sequence

from routing.globals import GlobalConfig
from routing.model import Endpoint
from routing.snapshot import Snapshot

logger = logging.getLogger(__name__)


class _Excluded:
    """The endpoints a pick must skip: those tried for the request, and ejected ones."""

    __slots__ = ("_ejected", "_tried")

    def __init__(self, tried: Container[Endpoint], ejected: frozenset[Endpoint]) -> None:
        self._tried = tried
        self._ejected = ejected

    def __contains__(self, endpoint: object) -> bool:
        return endpoint in self._ejected or endpoint in self._tried


class PassiveHealth:
    """Failure counts and ejections per endpoint."""

    __slots__ = ("_ejected", "_failures")

    def __init__(self) -> None:
        self._failures: dict[Endpoint, tuple[int, float]] = {}
        """Endpoint → (failures in the current window, when the window began)."""
        self._ejected: dict[Endpoint, float] = {}
        """Endpoint → when it returns to rotation."""

    def skip(
        self, endpoints: Sequence[Endpoint], tried: Container[Endpoint], now: float
    ) -> Container[Endpoint]:
        """What a pick among `endpoints` must skip: `tried`, plus the ejected ones."""
        if not self._ejected:
            return tried  # the common case costs one truth test
        ejected = frozenset(e for e in endpoints if self._is_ejected(e, now))
        return _Excluded(tried, ejected) if ejected else tried

    def failed(
        self, endpoint: Endpoint, endpoints: Sequence[Endpoint], now: float, config: GlobalConfig
    ) -> None:
        """A try on `endpoint`, one of `endpoints` (its backend's), failed."""
        limit, window = config.upstream_max_fails, config.upstream_fail_timeout
        if not limit:
            return
        count, since = self._failures.get(endpoint, (0, now))
        if now - since > window:
            count, since = 0, now
        count += 1
        if count < limit:
            self._failures[endpoint] = (count, since)
            return
        self._failures.pop(endpoint, None)
        out = sum(1 for e in endpoints if self._is_ejected(e, now))
        if (out + 1) * 2 > len(endpoints):
            return  # ejecting it would leave less than half in rotation
        self._ejected[endpoint] = now + window
        logger.warning(
            "endpoint %s ejected for %gs after %d failures", endpoint.hostport, window, count
        )

    def succeeded(self, endpoint: Endpoint) -> None:
        """A try on `endpoint` got a response: its failures no longer count."""
        if self._failures and endpoint in self._failures:  # hashing the endpoint costs more
            del self._failures[endpoint]

    def _is_ejected(self, endpoint: Endpoint, now: float) -> bool:
        until = self._ejected.get(endpoint)
        if until is None:
            return False
        if now < until:
            return True
        del self._ejected[endpoint]
        logger.info("endpoint %s back in rotation", endpoint.hostport)
        return False

    def prune(self, snapshot: Snapshot) -> None:
        """Forget endpoints the new snapshot no longer has."""
        if not self._failures and not self._ejected:
            return
        present = {e for endpoints in snapshot.endpoints.values() for e in endpoints}
        for table in (self._failures, self._ejected):
            for endpoint in [e for e in table if e not in present]:
                del table[endpoint]
