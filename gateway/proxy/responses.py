"""Responses the gateway writes itself: canned errors (built, and written for an exchange),
100 Continue, status lines.

Errors are small HTML pages, as nginx's, so users comparing the two see the same shape. Every
error response says whether the connection stays open; early errors (before the request body
was read) always close it (DESIGN.md invariant 9).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
SERVER_NAME: Final = "ingress-gateway"


def reason(status: int) -> str:
    """The standard reason phrase, or "Unknown"."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_BODIES: Final[dict[int, bytes]] = {}


def _body(status: int) -> bytes:
    body = _BODIES.get(status)
    if body is None:
        title = f"{status} {reason(status)}"
        body = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}"
            f"</h1></center>\r\n<hr><center>{SERVER_NAME}</center>\r\n</body>\r\n</html>\r\n"
        ).encode()
        _BODIES[status] = body
    return body


def error_response(
    status: int,
    *,
    close: bool,
    request_id: str = "",
    head_only: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
    page: tuple[str, bytes] | None = None,
    added: bytes = b"",
) -> bytes:
    """A complete error response; `head_only` for HEAD requests (length kept, no body).

    `page` is (content type, body) in place of the standard page; `added` are header lines
    the gateway adds to every answer (CRLF-terminated)."""
    content_type, body = page if page is not None else ("text/html", _body(status))
    lines = [
        f"HTTP/1.1 {status} {reason(status)}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close" if close else "Connection: keep-alive",
    ]
    if request_id:
        lines.append(f"X-Request-ID: {request_id}")
    lines.extend(f"{name}: {value}" for name, value in extra)
    head = ("\r\n".join(lines) + "\r\n").encode("latin-1") + added + b"\r\n"
    return head if head_only else head + body


def respond_error(ex: Exchange, status: int) -> None:
    """Write a canned error; early errors and unread bodies close the connection.

    An exchange answers once: a second call (e.g. a 413 found twice) does nothing.
    """
    if ex.response_started:
        return
    ex.status = status
    if ex.early or not ex.body.complete or status == 413:
        ex.close_after = True
    keep = ex.down.keeps_alive(ex)
    ex.close_after = not keep
    ex.response_started = True
    response = error_response(
        status,
        close=not keep,
        request_id=ex.head.request_id,
        head_only=ex.head.method == "HEAD",
        extra=(("Location", ex.location),) if ex.location is not None else (),
        page=ex.page,
        added=ex.added_headers,
    )
    ex.bytes_sent = len(response)
    ex.down.write(response)
