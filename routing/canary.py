"""Choosing among a route's canaries for one request (reference §3).

With one canary this is ingress-nginx's balancer decision exactly: header (`always`, `never`,
or the `-value`/`-pattern`), then cookie, then `random(total) <= weight`. Several canary
Ingresses on one route (what MSE allows and nginx cannot do) are combined by precedence level,
oldest canary Ingress first within a level:

1. header and query (MSE puts them on one level): the first canary selected wins;
2. cookie: likewise;
3. weight: one random draw over the canaries' shares, which the compiler has already
   normalised (a sum above 100 % is scaled down, as MSE does).

A `never` (header, query or cookie) rules that canary out of the later levels, its weight
included, so a client can opt out of one version without leaving the others. Nothing selected
means the primary Service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from annotations.canary import Selector
from routing.model import CanaryBackend


class RequestAttributes(Protocol):
    """The parts of a request canary selectors read; lookups are case-insensitive for
    header names and exact for cookie and query parameter names."""

    def header(self, name: str) -> str | None: ...

    def cookie(self, name: str) -> str | None: ...

    def query(self, name: str) -> str | None: ...


Lookup = Callable[[str], str | None]
Selectors = tuple[tuple[Selector | None, Lookup], ...]


def _header_level(canary: CanaryBackend, request: RequestAttributes) -> Selectors:
    return ((canary.header, request.header), (canary.query, request.query))


def _cookie_level(canary: CanaryBackend, request: RequestAttributes) -> Selectors:
    return ((canary.cookie, request.cookie),)


def _verdict(selectors: Selectors) -> bool | None:
    """The first decided verdict of one canary's selectors on one level (None: undecided)."""
    for selector, lookup in selectors:
        if selector is None:
            continue
        actual = lookup(selector.name)
        if actual is not None:
            verdict = selector.verdict(actual)
            if verdict is not None:
                return verdict
    return None


def choose_canary(
    canaries: Sequence[CanaryBackend],
    request: RequestAttributes,
    draw: Callable[[], float],
) -> CanaryBackend | None:
    """The canary that serves this request, or None for the primary. `draw` is in [0, 1)."""
    ruled_out: list[CanaryBackend] = []
    for level in (_header_level, _cookie_level):
        for canary in canaries:
            if canary in ruled_out:
                continue
            verdict = _verdict(level(canary, request))
            if verdict:
                return canary
            if verdict is False:
                ruled_out.append(canary)
    point = draw()
    for canary in canaries:
        if canary.share <= 0.0:
            continue
        if point < canary.share:
            return None if canary in ruled_out else canary
        point -= canary.share
    return None
