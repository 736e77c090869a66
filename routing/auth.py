"""The users a route asks for, read from the Secret its Ingress names (`annotations.auth`).

Built once per compile: the htpasswd lines (or the `auth-map` keys) become a user → hash
table that the proxy only reads (`gateway.proxy.passwords`). As in ingress-nginx, a route whose
Secret is missing or lacks the users key is served with 503 rather than without
authentication; a line the gateway cannot use (no `:`, a hash in an unknown format) is a
warning, and that user cannot sign in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from annotations.auth import BasicAuth
from annotations.extauth import ExternalAuth
from routing.problems import Severity

Finding = tuple[Severity, str, str]
"""A problem of the Secret as (severity, reason, code), reported on the Ingress's key."""

AUTH_FILE_KEY = "auth"
"""The key of an `auth-file` Secret that holds the htpasswd lines (ingress-nginx's)."""

HASH_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bcrypt", re.compile(r"\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}")),
    ("apr1", re.compile(r"\$apr1\$[^$]{1,8}\$[./A-Za-z0-9]{22}")),
    ("md5-crypt", re.compile(r"\$1\$[^$]{1,8}\$[./A-Za-z0-9]{22}")),
    ("sha256-crypt", re.compile(r"\$5\$(rounds=\d+\$)?[^$]{1,16}\$[./A-Za-z0-9]{43}")),
    ("sha512-crypt", re.compile(r"\$6\$(rounds=\d+\$)?[^$]{1,16}\$[./A-Za-z0-9]{86}")),
    ("sha1", re.compile(r"\{SHA\}[A-Za-z0-9+/]{27}=")),
    ("salted-sha1", re.compile(r"\{SSHA\}[A-Za-z0-9+/=]{28,}")),
    ("plain", re.compile(r"\{PLAIN\}.*")),
    ("crypt", re.compile(r"[./A-Za-z0-9]{13}")),
)
"""The hash formats nginx's `auth_basic_user_file` accepts, as htpasswd and mkpasswd write
them: nginx's own apr1, {SHA}, {SSHA} and {PLAIN}, and what the C library's crypt() knows."""


def hash_format(hashed: str) -> str | None:
    """The name of `hashed`'s format, or None when it is none of `HASH_FORMATS`."""
    for name, pattern in HASH_FORMATS:
        if pattern.fullmatch(hashed):
            return name
    return None


@dataclass(frozen=True, slots=True)
class PasswordFile:
    """The users of one route and the challenge that asks for them."""

    source: str
    """``namespace/name`` of the Secret, for messages and logs."""
    users: tuple[tuple[str, str], ...]
    """(user, hash), sorted; empty when the Secret is unusable."""
    challenge: bytes
    """The `WWW-Authenticate` line of a 401 answer (CRLF-terminated)."""
    usable: bool
    """False when the Secret is missing or lacks its users: requests get 503."""
    by_user: dict[str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_user", dict(self.users))


@dataclass(frozen=True, slots=True)
class ExternalCheck:
    """A route's `auth-url` settings, with the headers of its `auth-proxy-set-headers`."""

    config: ExternalAuth
    set_headers: tuple[tuple[str, str], ...] = ()
    """Headers added to the request to the auth service."""
    usable: bool = True
    """False when the `auth-proxy-set-headers` ConfigMap is missing: requests get 503."""
    copied: frozenset[bytes] = field(init=False, compare=False, repr=False)
    """`auth-response-headers` in lower case: dropped from the client's request."""

    def __post_init__(self) -> None:
        names = frozenset(n.lower().encode("latin-1") for n in self.config.response_headers)
        object.__setattr__(self, "copied", names)


@dataclass(frozen=True, slots=True)
class RouteAuth:
    """What a route's requests must show besides passing the IP lists."""

    basic: PasswordFile | None
    """At least one of `basic` and `external` is set."""
    satisfy_any: bool
    """nginx's `satisfy any`: the IP lists or the authentication suffice."""
    external: ExternalCheck | None = None


def password_file(
    basic: BasicAuth,
    namespace: str,
    secrets: Mapping[tuple[str, str], Mapping[str, bytes]],
) -> tuple[PasswordFile, list[Finding]]:
    """The users of `basic`'s Secret (in `namespace` unless it names one)."""
    ref = (basic.secret[0] or namespace, basic.secret[1])
    source = f"{ref[0]}/{ref[1]}"
    challenge = f'WWW-Authenticate: Basic realm="{basic.realm}"\r\n'.encode("latin-1")
    data = secrets.get(ref)
    problems: list[Finding] = []
    denied = "the routes of this Ingress answer 503 until it is fixed"
    if data is None:
        reason = f"Secret {source} does not exist; {denied}"
        return PasswordFile(source, (), challenge, False), [("error", reason, "MissingSecret")]
    if basic.auth_map:
        entries = [(user, value.decode("utf-8", "replace")) for user, value in data.items()]
    elif AUTH_FILE_KEY in data:
        entries = _htpasswd(data[AUTH_FILE_KEY].decode("utf-8", "replace"), source, problems)
    else:
        reason = f"Secret {source} has no key {AUTH_FILE_KEY!r} (htpasswd lines); {denied}"
        return PasswordFile(source, (), challenge, False), [("error", reason, "InvalidSecret")]
    users: dict[str, str] = {}
    for user, written in entries:
        hashed = written.strip()
        if hash_format(hashed) is None:
            reason = f"Secret {source}: the hash of user {user!r} is in no supported format"
            problems.append(("warning", f"{reason}; that user cannot sign in", "InvalidSecret"))
            continue
        users.setdefault(user, hashed)  # nginx uses a user's first line
    return PasswordFile(source, tuple(sorted(users.items())), challenge, True), problems


def _htpasswd(text: str, source: str, problems: list[Finding]) -> list[tuple[str, str]]:
    """(user, hash) of each line; blank lines and `#` comments are skipped."""
    entries: list[tuple[str, str]] = []
    for number, written in enumerate(text.splitlines(), 1):
        line = written.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        if not colon or not user:
            reason = f"Secret {source}: line {number} of {AUTH_FILE_KEY!r} is not user:hash"
            problems.append(("warning", f"{reason}; it is skipped", "InvalidSecret"))
            continue
        entries.append((user, hashed))
    return entries
