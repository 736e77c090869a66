"""Header control compiled for the data plane: names as lower-case bytes, lines pre-serialised.

`header_policy` turns an Ingress's `HeaderControl` (and the data of its `custom-headers`
ConfigMap) into a `HeaderPolicy` once per compile, so a request pays a set lookup per header and
one bytes concatenation, never a parse. `rewrite_cookie` and `rewrite_location` implement nginx's
`proxy_cookie_domain` / `proxy_cookie_path` and `proxy_redirect` on single header values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from annotations.headers import HeaderControl


@dataclass(frozen=True, slots=True)
class HeaderPolicy:
    """What the proxy changes in one route's requests and responses."""

    host: bytes | None = None
    """`Host` sent upstream instead of the client's."""
    request_drop: frozenset[bytes] = frozenset()
    """Lower-case names of client headers not forwarded."""
    request_lines: bytes = b""
    """Serialised header lines added to the upstream request."""
    response_drop: frozenset[bytes] = frozenset()
    response_lines: bytes = b""
    cookie_domain: tuple[str, str] | None = None
    cookie_path: tuple[str, str] | None = None
    redirect: tuple[str, str] | None = None

    @property
    def rewrites_response_values(self) -> bool:
        """Whether `Set-Cookie`, `Location` or `Refresh` values may change."""
        return bool(self.cookie_domain or self.cookie_path or self.redirect)


def _lines(pairs: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{name}: {value}\r\n".encode("latin-1", "replace") for name, value in pairs)


def header_policy(
    control: HeaderControl, custom_headers: Mapping[str, str] | None = None
) -> HeaderPolicy:
    """Compile one Ingress's header settings; `custom_headers` is the ConfigMap's data."""
    request: list[tuple[str, str]] = []
    if control.connection is not None:
        request.append(("Connection", control.connection))
    if control.forwarded_prefix is not None:
        request.append(("X-Forwarded-Prefix", control.forwarded_prefix))
    request += control.request_update
    request += control.request_add
    request_drop = {n.lower() for n in control.request_remove}
    request_drop |= {n.lower() for n, _ in control.request_update}
    if control.forwarded_prefix is not None:
        request_drop.add("x-forwarded-prefix")

    # Set headers (update, then the ConfigMap's) replace the pod's; a later set of the same
    # name wins. Added headers come last.
    sets: dict[str, tuple[str, str]] = {}
    for name, value in [*control.response_update, *(custom_headers or {}).items()]:
        sets[name.lower()] = (name, value)
    response = [*sets.values(), *control.response_add]
    response_drop = {n.lower() for n in control.response_remove} | set(sets)
    return HeaderPolicy(
        host=control.upstream_vhost.encode("latin-1") if control.upstream_vhost else None,
        request_drop=frozenset(n.encode("latin-1") for n in request_drop),
        request_lines=_lines(request),
        response_drop=frozenset(n.encode("latin-1") for n in response_drop),
        response_lines=_lines(response),
        cookie_domain=control.cookie_domain,
        cookie_path=control.cookie_path,
        redirect=control.redirect,
    )


_ATTRIBUTE = re.compile(r";\s*(domain|path)\s*=\s*([^;]*)", re.IGNORECASE)


def rewrite_cookie(policy: HeaderPolicy, value: str) -> str:
    """A `Set-Cookie` value with its Domain and Path rewritten as nginx does."""

    def attribute(found: re.Match[str]) -> str:
        name, current = found.group(1), found.group(2).strip()
        if name.lower() == "domain" and policy.cookie_domain is not None:
            source, target = policy.cookie_domain
            # nginx compares without a leading dot and without regard to case.
            if current.lstrip(".").lower() == source.lstrip(".").lower():
                return f"; {name}={target}"
        if name.lower() == "path" and policy.cookie_path is not None:
            source, target = policy.cookie_path
            if current.startswith(source):
                return f"; {name}={target}{current[len(source) :]}"
        return found.group(0)

    return _ATTRIBUTE.sub(attribute, value)


def rewrite_location(policy: HeaderPolicy, url: str) -> str:
    """A `Location` URL with the `proxy-redirect-from` start replaced by `proxy-redirect-to`."""
    assert policy.redirect is not None
    source, target = policy.redirect
    return target + url[len(source) :] if url.startswith(source) else url


_REFRESH_URL = re.compile(r"url=", re.IGNORECASE)


def rewrite_refresh(policy: HeaderPolicy, value: str) -> str:
    """A `Refresh` value (``5; url=…``) with its URL rewritten as `Location` is."""
    found = _REFRESH_URL.search(value)
    if found is None:
        return value
    return value[: found.end()] + rewrite_location(policy, value[found.end() :])
