"""nginx variables in keys the gateway computes per request (`upstream-hash-by`,
`auth-cache-key`): the templates come from `annotations.balancing.hash_template`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.proxy.passwords import credentials

if TYPE_CHECKING:
    from annotations.balancing import Part
    from gateway.proxy.request import RequestHead


def expand(template: tuple[Part, ...], head: RequestHead, client: str) -> str:
    """The key of one request (a missing value is empty, as in nginx)."""
    out: list[str] = []
    for part in template:
        if isinstance(part, str):
            out.append(part)
            continue
        kind, name = part
        if kind == "request_uri":
            value: str | None = head.target.decode("latin-1")
        elif kind == "uri":
            value = head.path
        elif kind == "host":
            value = head.host
        elif kind == "remote_addr":
            value = client
        elif kind == "remote_user":
            value = _basic_user(head)
        elif kind in ("args", "query_string"):
            value = head.query_string
        elif kind == "http":
            value = head.header(name.replace("_", "-"))
        elif kind == "arg":
            value = head.query(name)
        else:
            value = head.cookie(name)
        out.append(value or "")
    return "".join(out)


def _basic_user(head: RequestHead) -> str | None:
    """nginx's `$remote_user`: the user name of an `Authorization: Basic` header."""
    found = credentials(head)
    return found[0] if found is not None else None
