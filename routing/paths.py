"""Request paths and hosts in the form routes are matched against.

nginx matches locations against the *normalised* URI: percent-escapes decoded, `.` and `..`
segments resolved, repeated slashes merged (`merge_slashes on`). We do the same, so
``/admin/../public`` is routed as ``/public`` and ``/api//v1`` as ``/api/v1``; matching on the
raw bytes would let a client pick a route the rules did not intend. The proxy still forwards
the original request target unless a rewrite applies.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SLASHES = re.compile(r"//+")


def normalise_request_path(raw: str) -> str | None:
    """The routing form of a request path (no query), or None when it is malformed.

    Malformed: not starting with `/`, a broken percent-escape, an escaped NUL, or `..`
    climbing above the root. The caller answers 400 to those, as nginx does.
    """
    if not raw.startswith("/"):
        return None
    if "%" not in raw and "/." not in raw and "//" not in raw:
        # The common case costs three substring scans. gateway/proxy/request.py repeats this
        # test in compiled code to skip the call; tests/proxy/test_request_check.py keeps the
        # two in agreement.
        return raw
    if "%" in raw:
        if _BAD_ESCAPE.search(raw):
            return None
        raw = unquote(raw, errors="surrogateescape")
        if "\x00" in raw:
            return None
    if "/." in raw:
        resolved = _resolve_dots(raw)
        if resolved is None:
            return None
        raw = resolved
    return _SLASHES.sub("/", raw)


def _resolve_dots(path: str) -> str | None:
    out: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(segment)
    trailing = segments[-1] in (".", "..")
    return "/" + "/".join(out) + ("/" if trailing and out else "")


def request_host(raw: str) -> str:
    """A Host header in matching form: lower case, without port or trailing dot."""
    host = raw.lower()
    if host.startswith("["):  # IPv6 literal, possibly with a port
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    colon = host.find(":")
    if colon >= 0:
        host = host[:colon]
    return host.rstrip(".")


def prefix_key(path: str) -> str:
    """The index key of a Prefix path: trailing slashes dropped (`/foo/` ≡ `/foo`), `/` kept."""
    return _SLASHES.sub("/", path).rstrip("/") or "/"
