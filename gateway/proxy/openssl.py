"""What Python's `ssl` module cannot do, done through OpenSSL's own functions (ctypes).

Per-host TLS settings must reach a handshake before OpenSSL uses them, and Python offers no hook
early enough: its SNI callback runs after the protocol version is chosen, and switching the
context there (`SSLObject.context`) changes only the certificate and the trust store, not the
versions, the ciphers or the client-certificate request (OpenSSL's `SSL_set_SSL_CTX`). nginx
meets the same limit and applies each server's settings in OpenSSL's ClientHello callback; so
do we (`install_client_hello`), with the connection's `SSL` pointer OpenSSL passes in.

Client certificates are checked as nginx checks them: the handshake asks for one with a verify
callback that accepts anything, so a missing or bad certificate never fails the handshake, and
the result (`SSL_get_verify_result`) is read when a request arrives, which can then be answered
400 or redirected to an error page.

The functions come from the very OpenSSL the `_ssl` module uses (looked up through its shared
object, whether it links OpenSSL or carries it), and the two CPython structure offsets used
(`SSLContext` → `SSL_CTX *`, `SSLObject` → `SSL *`) are checked once against OpenSSL itself. If
anything does not match, `AVAILABLE` is False with `UNAVAILABLE_REASON`, and hosts that need
these settings refuse their requests instead of being served without them.
"""

from __future__ import annotations

import _ssl
import ctypes
import logging
import ssl
from collections.abc import Callable
from typing import Final

logger = logging.getLogger(__name__)

_P: Final = ctypes.c_void_p
_HELLO_CALLBACK: Final = ctypes.CFUNCTYPE(ctypes.c_int, _P, ctypes.POINTER(ctypes.c_int), _P)
_VERIFY_CALLBACK: Final = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, _P)

_SSL_CTRL_SET_MIN_PROTO_VERSION: Final = 123
_SSL_CTRL_SET_MAX_PROTO_VERSION: Final = 124
_SSL_VERIFY_PEER: Final = 0x01
_X509_V_FLAG_CRL_CHECK: Final = 0x04
_X509_V_FLAG_CRL_CHECK_ALL: Final = 0x08
_TLSEXT_TYPE_SERVER_NAME: Final = 0
_CLIENT_HELLO_SUCCESS: Final = 1
TLS_VERSIONS: Final = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
"""Version names as the annotations and the ConfigMap spell them; the values are the wire
numbers OpenSSL's `SSL_CTRL_SET_*_PROTO_VERSION` take (0x0303 for TLS 1.2)."""


class Handshake:
    """The settings one handshake gets from its server name (see `install_client_hello`)."""

    __slots__ = ("ciphers", "max_version", "min_version", "session_context", "verify_depth")

    def __init__(
        self,
        session_context: bytes,
        *,
        ciphers: str | None = None,
        min_version: str | None = None,
        max_version: str | None = None,
        verify_depth: int = 0,
    ) -> None:
        self.session_context = session_context
        """Sessions resume only among handshakes with the same settings (nginx scopes them per
        server the same way): a session made where no certificate was asked for must not skip
        the check elsewhere."""
        self.ciphers = ciphers.encode() if ciphers else None
        self.min_version = int(TLS_VERSIONS[min_version]) if min_version else 0
        self.max_version = int(TLS_VERSIONS[max_version]) if max_version else 0
        self.verify_depth = verify_depth
        """Ask for a client certificate, accepting chains up to this many CAs (0: do not ask)."""


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(_ssl.__file__)
    for name, argtypes, restype in (
        ("OpenSSL_version_num", [], ctypes.c_ulong),
        ("SSL_CTX_set_client_hello_cb", [_P, _P, _P], None),
        ("SSL_CTX_get_verify_mode", [_P], ctypes.c_int),
        ("SSL_CTX_set_verify_depth", [_P, ctypes.c_int], None),
        ("SSL_CTX_get_cert_store", [_P], _P),
        ("X509_STORE_set_flags", [_P, ctypes.c_ulong], ctypes.c_int),
        ("SSL_client_hello_get0_ext", [_P, ctypes.c_uint, _P, _P], ctypes.c_int),
        ("SSL_ctrl", [_P, ctypes.c_int, ctypes.c_long, _P], ctypes.c_long),
        ("SSL_set_cipher_list", [_P, ctypes.c_char_p], ctypes.c_int),
        ("SSL_set_verify", [_P, ctypes.c_int, _P], None),
        ("SSL_set_verify_depth", [_P, ctypes.c_int], None),
        ("SSL_set_session_id_context", [_P, ctypes.c_char_p, ctypes.c_uint], ctypes.c_int),
        ("SSL_get_verify_result", [_P], ctypes.c_long),
        ("SSL_get_SSL_CTX", [_P], _P),
        ("X509_verify_cert_error_string", [ctypes.c_long], ctypes.c_char_p),
    ):  # fmt: skip
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


def _context_pointer(context: ssl.SSLContext) -> int:
    """`SSL_CTX *` of a context: CPython's `PySSLContext` holds it right after its header."""
    return _P.from_address(id(context) + object.__basicsize__).value or 0


def _connection_pointer(ssl_object: ssl.SSLObject) -> int:
    """`SSL *` of a connection: CPython's `PySSLSocket` holds it after its socket weakref."""
    inner = ssl_object._sslobj  # type: ignore[attr-defined]
    return _P.from_address(id(inner) + object.__basicsize__ + ctypes.sizeof(_P)).value or 0


def _check(lib: ctypes.CDLL) -> None:
    """Prove the library and the two offsets against OpenSSL itself, or raise."""
    if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        raise RuntimeError("the OpenSSL found is not the one Python's ssl module uses")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pointer = _context_pointer(context)
    # CERT_REQUIRED is OpenSSL's SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT.
    if not pointer or lib.SSL_CTX_get_verify_mode(pointer) != 0x03:
        raise RuntimeError("SSLContext does not have the expected layout")
    connection = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="check")
    if lib.SSL_get_SSL_CTX(_connection_pointer(connection)) != pointer:
        raise RuntimeError("SSLObject does not have the expected layout")


def _loaded() -> tuple[ctypes.CDLL | None, str]:
    try:
        lib = _load()
        _check(lib)
    except (OSError, AttributeError, RuntimeError) as err:  # pragma: no cover - other builds
        return None, str(err)
    return lib, ""


_LIB, UNAVAILABLE_REASON = _loaded()
AVAILABLE: Final = _LIB is not None


def _accept_any(preverify_ok: int, store: int | None) -> int:
    """Never fail the handshake over a client certificate; the request is judged later."""
    return 1


_ACCEPT_ANY_CALLBACK: Final = _VERIFY_CALLBACK(_accept_any)
_ACCEPT_ANY: Final = ctypes.cast(_ACCEPT_ANY_CALLBACK, _P)


def install_client_hello(
    context: ssl.SSLContext, settings: Callable[[str], Handshake | None]
) -> object:
    """Apply `settings(server name)` to each handshake on `context` as its ClientHello arrives.

    Returns the callback OpenSSL now points to: the caller must keep it as long as `context`
    lives (were it collected, OpenSSL would call freed memory)."""
    lib = _LIB
    assert lib is not None, UNAVAILABLE_REASON
    out, size = _P(), ctypes.c_size_t()

    def on_client_hello(connection: int, alert: object, arg: object) -> int:
        try:
            name = ""
            if lib.SSL_client_hello_get0_ext(
                connection, _TLSEXT_TYPE_SERVER_NAME, ctypes.addressof(out), ctypes.addressof(size)
            ):
                name = _server_name(ctypes.string_at(out, size.value))
            chosen = settings(name)
            if chosen is not None:
                _apply(lib, connection, chosen)
        except Exception:  # an exception must not unwind through OpenSSL
            logger.exception("applying the TLS settings of a handshake failed")
        return _CLIENT_HELLO_SUCCESS

    callback = _HELLO_CALLBACK(on_client_hello)
    lib.SSL_CTX_set_client_hello_cb(_context_pointer(context), ctypes.cast(callback, _P), None)
    return callback


def _apply(lib: ctypes.CDLL, connection: int, chosen: Handshake) -> None:
    session = chosen.session_context
    lib.SSL_set_session_id_context(connection, session, len(session))
    if chosen.min_version:
        lib.SSL_ctrl(connection, _SSL_CTRL_SET_MIN_PROTO_VERSION, chosen.min_version, None)
    if chosen.max_version:
        lib.SSL_ctrl(connection, _SSL_CTRL_SET_MAX_PROTO_VERSION, chosen.max_version, None)
    if chosen.ciphers:
        lib.SSL_set_cipher_list(connection, chosen.ciphers)
    if chosen.verify_depth:
        lib.SSL_set_verify(connection, _SSL_VERIFY_PEER, _ACCEPT_ANY)
        lib.SSL_set_verify_depth(connection, chosen.verify_depth)


def _server_name(extension: bytes) -> str:
    """The host name in a ClientHello's server_name extension (RFC 6066 §3), lower case."""
    # list length (2), then entries: type (1), length (2), name
    if len(extension) < 5 or extension[2] != 0:
        return ""
    length = int.from_bytes(extension[3:5], "big")
    return extension[5 : 5 + length].decode("ascii", "replace").lower()


def set_verify_depth(context: ssl.SSLContext, depth: int) -> None:
    """Allow chains of up to `depth` CAs above the peer's certificate (nginx's
    `*_verify_depth`); without the bridge OpenSSL's default (100) stays."""
    if _LIB is not None:
        _LIB.SSL_CTX_set_verify_depth(_context_pointer(context), depth)


def check_revocation(context: ssl.SSLContext) -> None:
    """Check every certificate of a peer's chain against the revocation lists loaded into
    `context` (nginx's `ssl_crl` sets these two flags). The flags go on the context's
    certificate store, not on its parameters (`SSLContext.verify_flags`): a handshake that
    SNI moves to `context` keeps the parameters of the listener's context it began with, but
    verifies with `context`'s store. Without the bridge such hosts refuse requests anyway."""
    if _LIB is not None:
        store = _LIB.SSL_CTX_get_cert_store(_context_pointer(context))
        _LIB.X509_STORE_set_flags(store, _X509_V_FLAG_CRL_CHECK | _X509_V_FLAG_CRL_CHECK_ALL)


def verify_result(ssl_object: ssl.SSLObject) -> tuple[int, str]:
    """The client certificate check's result: (0, "ok") or (OpenSSL's code, its reason)."""
    lib = _LIB
    assert lib is not None, UNAVAILABLE_REASON
    code = int(lib.SSL_get_verify_result(_connection_pointer(ssl_object)))
    reason = lib.X509_verify_cert_error_string(code) or b""
    return code, reason.decode("ascii", "replace")
