"""Basic-auth password checks that never block the event loop.

A hash is checked as nginx's `auth_basic_user_file` checks it: `{PLAIN}`, `{SHA}` and
`{SSHA}` here; `$apr1$` (Apache's MD5, which nginx implements itself) in Python; everything
else (`$2y$` bcrypt, `$1$`, `$5$`, `$6$`, traditional DES crypt) by the C library's
`crypt_rn`, as nginx calls crypt(). The slow ones (bcrypt takes tens of milliseconds by
design) run on a small thread pool; `crypt_rn` releases the GIL, so the loop keeps serving.

Verified credentials are remembered, keyed by a SHA-256 of (hash, password), never the
password itself: a client that signs in on every request costs one dictionary lookup after
the first. Failures are not remembered, so a changed password works at once; a new hash in
the Secret is a new key, so a revoked password stops working at once too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ctypes
import ctypes.util
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, cast

from gateway.proxy.request import RequestHead, header_value

if TYPE_CHECKING:
    from routing.auth import PasswordFile

CACHE_SIZE: Final = 10_000
"""Verified (hash, password) pairs remembered; the least recently used goes first."""
CHECK_THREADS: Final = 2
"""Threads for slow hashes: enough to use the cores, few enough that a flood of wrong
passwords queues instead of taking every core from the proxy."""

_ITOA64: Final = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CRYPT_DATA_SIZE: Final = 32768
"""sizeof(struct crypt_data) in libxcrypt: the scratch space `crypt_rn` works in."""


def credentials(head: RequestHead) -> tuple[str, bytes] | None:
    """(user, password) of an `Authorization: Basic` header, or None without a usable one."""
    value = header_value(head, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return user.decode("utf-8", "replace"), password


def is_slow(hashed: str) -> bool:
    """Whether checking `hashed` takes long enough to belong off the event loop."""
    return not hashed.startswith(("{PLAIN}", "{SHA}", "{SSHA}"))


def verify(hashed: str, password: bytes) -> bool:
    """Whether `password` matches `hashed` (any format of `routing.auth.HASH_FORMATS`)."""
    if hashed.startswith("{PLAIN}"):
        return hmac.compare_digest(hashed[7:].encode(), password)
    if hashed.startswith("{SHA}"):
        expected = base64.b64decode(hashed[5:])
        return hmac.compare_digest(hashlib.sha1(password).digest(), expected)
    if hashed.startswith("{SSHA}"):
        raw = base64.b64decode(hashed[6:])
        digest, salt = raw[:20], raw[20:]
        return hmac.compare_digest(hashlib.sha1(password + salt).digest(), digest)
    computed: bytes | None
    if hashed.startswith("$apr1$"):
        salt = hashed[6:].split("$", 1)[0].encode()
        computed = md5_crypt(password, salt, b"$apr1$")
    else:
        computed = _crypt(password, hashed.encode())
    return computed is not None and hmac.compare_digest(computed, hashed.encode())


def md5_crypt(password: bytes, salt: bytes, magic: bytes) -> bytes:
    """Poul-Henning Kamp's MD5 crypt, which Apache's `$apr1$` uses with its own magic."""
    salt = salt[:8]
    alternate = hashlib.md5(password + salt + password).digest()
    context = hashlib.md5(password + magic + salt)
    for left in range(len(password), 0, -16):
        context.update(alternate[: min(16, left)])
    length = len(password)
    while length:
        context.update(b"\0" if length & 1 else password[:1])
        length >>= 1
    final = context.digest()
    for i in range(1000):
        step = hashlib.md5(password if i & 1 else final)
        if i % 3:
            step.update(salt)
        if i % 7:
            step.update(password)
        step.update(final if i & 1 else password)
        final = step.digest()
    out = bytearray()
    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        out += _to64((final[a] << 16) | (final[b] << 8) | final[c], 4)
    out += _to64(final[11], 2)
    return magic + salt + b"$" + bytes(out)


def _to64(value: int, count: int) -> bytes:
    out = bytearray()
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return bytes(out)


_CryptRn = Callable[[bytes, bytes, ctypes.Array[ctypes.c_char], int], bytes | None]


def _load_crypt() -> _CryptRn:
    """libxcrypt's `crypt_rn`: thread-safe, and NULL rather than a magic string on error."""
    library = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    function = library.crypt_rn
    function.restype = ctypes.c_char_p
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    return cast(_CryptRn, function)


_crypt_rn = _load_crypt()


def _crypt(password: bytes, setting: bytes) -> bytes | None:
    """The C library's crypt of `password` with `setting` (the stored hash), None on error."""
    scratch = ctypes.create_string_buffer(_CRYPT_DATA_SIZE)
    return _crypt_rn(password, setting, scratch, _CRYPT_DATA_SIZE)


class PasswordChecker:
    """Checks credentials against a route's users, remembering the verified ones."""

    def __init__(self) -> None:
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._pool = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="password-check")

    async def allows(self, users: PasswordFile, head: RequestHead) -> bool:
        """Whether the request's `Authorization` names one of `users` with its password."""
        found = credentials(head)
        if found is None:
            return False
        user, password = found
        hashed = users.by_user.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(b"%b\0%b" % (hashed.encode(), password)).digest()
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        if is_slow(hashed):
            loop = asyncio.get_running_loop()
            matches = await loop.run_in_executor(self._pool, verify, hashed, password)
        else:
            matches = verify(hashed, password)
        if matches:
            self._verified[key] = None
            if len(self._verified) > CACHE_SIZE:
                self._verified.popitem(last=False)
        return matches

    def close(self) -> None:
        """Stop the check threads (at shutdown)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
