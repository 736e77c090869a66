"""Value validators: small functions from the raw annotation string to a typed value.

Each validator raises `ValueError` with a short reason ("is not a boolean"); the field machinery
adds the key. Every string-valued validator refuses control characters, because several
annotation values end up in headers or URLs (ingress-nginx's "malicious" value check).
"""

from __future__ import annotations

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
