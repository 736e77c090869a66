"""Value validators: small functions from the raw annotation string to a typed value.

Each validator raises `ValueError` with a short reason ("is not a boolean"); the field machinery
adds the key. Every string-valued validator refuses control characters, because several
annotation values end up in headers or URLs (ingress-nginx's "malicious" value check).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

Validator = Callable[[str], object]

# strconv.ParseBool, which ingress-nginx uses: users write any of these.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def boolean(raw: str) -> bool:
    """`true`/`false` in any of the spellings Go's strconv.ParseBool accepts."""
    value = raw.strip()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'{raw!r} is not a boolean (use "true" or "false")')


def one_of(*options: str) -> Callable[[str], str]:
    """A validator for a keyword among `options` (exact, surrounding blanks dropped)."""

    def validate(raw: str) -> str:
        value = raw.strip()
        if value not in options:
            raise ValueError(f"{raw!r} is not one of {', '.join(options)}")
        return value

    return validate


def on_off(raw: str) -> str:
    """nginx's switch: `on` or `off` (any case)."""
    value = raw.strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f'{raw!r} is not "on" or "off"')
    return value


_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
"""A Kubernetes object name as Services and namespaces require (an RFC 1123 label)."""


def object_reference(kind: str) -> Callable[[str], tuple[str | None, str]]:
    """A validator for an object of `kind` named as `name` (in the Ingress's namespace) or
    `namespace/name`."""

    def validate(raw: str) -> tuple[str | None, str]:
        value = text(raw)
        namespace, slash, name = value.rpartition("/")
        for part in (name, namespace) if slash else (name,):
            if len(part) > 63 or not _OBJECT_NAME.fullmatch(part):
                raise ValueError(f"{value!r} is not a {kind} name or namespace/name")
        return (namespace or None), name

    validate.__doc__ = f"A {kind} as `name` or `namespace/name`."
    return validate


service_reference = object_reference("Service")


def text(raw: str) -> str:
    """Any non-empty text without control characters; surrounding blanks are dropped."""
    value = raw.strip()
    if not value:
        raise ValueError("is empty")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{raw!r} contains control characters")
    return value


def uri_path(raw: str) -> str:
    """A URI path or a capture-group template: starts with `/` or `$`, no blanks inside."""
    value = text(raw)
    if value[0] not in "/$":
        raise ValueError(f"{value!r} must start with '/' or a capture group such as '$1'")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} contains white space")
    return value


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size(raw: str) -> int:
    """An nginx size: bytes, or a number with `k`, `m` or `g` (any case); `0` is allowed."""
    value = raw.strip().lower()
    unit = value[-1:] if value[-1:] in ("k", "m", "g") else ""
    number = value[: len(value) - len(unit)]
    if not number.isdigit():
        raise ValueError(f"{raw!r} is not a size (e.g. 512, 8k, 1m, 1g)")
    return int(number) * _SIZE_UNITS[unit]


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(raw: str) -> float:
    """A duration: whole seconds as ingress-nginx writes them (`60`), or nginx units (`500ms`,
    `30s`, `5m`, `1h`)."""
    value = raw.strip().lower()
    for unit in ("ms", "s", "m", "h"):
        if value.endswith(unit) and value[: -len(unit)].isdigit():
            return int(value[: -len(unit)]) * _DURATION_UNITS[unit]
    if value.isdigit():
        return float(value)
    raise ValueError(f"{raw!r} is not a duration (seconds, or a number with ms, s, m or h)")


def count(raw: str) -> int:
    """A whole number, zero or more."""
    value = raw.strip()
    if not value.isdigit():
        raise ValueError(f"{raw!r} is not a whole number")
    return int(value)


def verify_depth(raw: str) -> int:
    """nginx's `*_verify_depth`: how many CAs may stand above a certificate, 1 to 100."""
    value = raw.strip()
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise ValueError(f"{raw!r} is not a whole number from 1 to 100")
    return int(value)


def regex(raw: str) -> re.Pattern[str]:
    """A regular expression (Python's syntax), compiled."""
    value = text(raw)
    try:
        return re.compile(value)
    except re.error as err:
        raise ValueError(f"{value!r} is not a valid regular expression: {err}") from None


def cidrs(raw: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses and CIDR blocks, kept in normalised text form."""
    out = []
    for part in raw.split(","):
        item = part.strip()
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR block") from None
    if not out:
        raise ValueError("is an empty list")
    return tuple(out)
