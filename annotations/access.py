"""IP access control: allow and deny lists on the client address (reference §1G, §2).

nginx renders `denylist-source-range` as `deny` lines before the `allow` lines of
`allowlist-source-range` (whose older name `whitelist-source-range` it still reads) and a
final `deny all`, so a denied address is refused even when it is also allowed, and only
allowed addresses pass once an allow list exists; refused requests get 403. MSE adds
`blacklist-source-range` (`denylist-source-range` wins when both are set) and the host-wide
`domain-whitelist-source-range` / `domain-blacklist-source-range`, which apply to every route
of the host. Each list is taken from the most specific place that sets one of its kind: the
Ingress, then the host, then the ConfigMap's `whitelist-source-range` /
`denylist-source-range`. The ConfigMap's `block-cidrs` is refused everywhere, before all else.

An invalid address refuses the Ingress version (DESIGN invariant 4): a typo never opens a
route that was closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from annotations._fields import Field, find, is_set, optional_value
from annotations._validators import cidrs

_FORMAT = "comma list of IP addresses and CIDR blocks"

ALLOWLIST = Field(
    "allowlist-source-range",
    cidrs,
    default=None,
    value_format=_FORMAT,
    doc="Only clients inside these networks are served; others get 403.",
    origin="nginx",
)
WHITELIST = Field(
    "whitelist-source-range",
    cidrs,
    default=None,
    value_format=_FORMAT,
    doc="The older name of `allowlist-source-range` (which wins when both are set).",
)
DENYLIST = Field(
    "denylist-source-range",
    cidrs,
    default=None,
    value_format=_FORMAT,
    doc="Clients inside these networks get 403, even when an allow list has them.",
)
BLACKLIST = Field(
    "blacklist-source-range",
    cidrs,
    default=None,
    value_format=_FORMAT,
    doc="MSE's deny list for the Ingress's routes; `denylist-source-range` wins when both are set.",
    origin="mse",
)
DOMAIN_WHITELIST = Field(
    "domain-whitelist-source-range",
    cidrs,
    default=None,
    value_format=_FORMAT,
    doc="Allow list for every route of the Ingress's hosts, unless a route has its own "
    "allow list; when Ingresses of a host disagree, the oldest one's list applies.",
    scope="host",
    origin="mse",
)
DOMAIN_BLACKLIST = Field(
    "domain-blacklist-source-range",
    cidrs,
    default=None,
    value_format=_FORMAT,
    doc="Deny list for every route of the Ingress's hosts, unless a route has its own deny "
    "list; when Ingresses of a host disagree, the oldest one's list applies.",
    scope="host",
    origin="mse",
)

FIELDS: tuple[Field, ...] = (
    ALLOWLIST,
    WHITELIST,
    DENYLIST,
    BLACKLIST,
    DOMAIN_WHITELIST,
    DOMAIN_BLACKLIST,
)

Networks = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IpRules:
    """An allow list and a deny list; None where that kind of list is not set here."""

    allow: Networks | None = None
    deny: Networks | None = None

    def over(self, fallback: IpRules | None) -> IpRules:
        """These lists, each kind falling back to `fallback`'s when not set here."""
        if fallback is None:
            return self
        return IpRules(
            self.allow if self.allow is not None else fallback.allow,
            self.deny if self.deny is not None else fallback.deny,
        )


@dataclass(frozen=True, slots=True)
class AccessControl:
    """The lists of one Ingress: for its own routes, and for every route of its hosts."""

    route: IpRules | None = None
    domain: IpRules | None = None


def parse(annotations: Mapping[str, str]) -> AccessControl | None:
    """The access lists, or None when the Ingress sets none."""
    values = {field.name: optional_value(annotations, field, tuple) for field in FIELDS}
    if not is_set(annotations, *FIELDS):
        return None
    allow_field = ALLOWLIST if find(annotations, ALLOWLIST.name) is not None else WHITELIST
    deny_field = DENYLIST if find(annotations, DENYLIST.name) is not None else BLACKLIST
    route = _rules(values[allow_field.name], values[deny_field.name])
    domain = _rules(values[DOMAIN_WHITELIST.name], values[DOMAIN_BLACKLIST.name])
    return AccessControl(route, domain)


def _rules(allow: Networks | None, deny: Networks | None) -> IpRules | None:
    return IpRules(allow, deny) if allow is not None or deny is not None else None
