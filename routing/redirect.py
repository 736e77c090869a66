"""Redirect answers for one request: which status and `Location`, if any (`annotations.redirect`).

Order, as ingress-nginx renders a location: `app-root` for a request of exactly `/`, then the
route's `permanent-redirect` / `temporal-redirect`. The gateway answers these itself; the
request never reaches a pod and canary selection does not happen.
"""

from __future__ import annotations

from dataclasses import dataclass

from annotations.redirect import DEFAULT_PORTS, Redirects


@dataclass(frozen=True, slots=True)
class RequestLine:
    """What redirect URLs are built from: nginx's variables of the same names."""

    scheme: str
    host: str
    """Host without port, lower case (`$host`)."""
    http_host: str
    """The Host header as sent (`$http_host`)."""
    server_port: int
    uri: str
    """Normalised path (`$uri`)."""
    raw_path: str
    args: str
    """Query string without `?` (`$args`)."""

    def variable(self, name: str) -> str:
        """The value of a supported nginx variable."""
        if name == "request_uri":
            return f"{self.raw_path}?{self.args}" if self.args else self.raw_path
        if name in ("args", "query_string"):
            return self.args
        if name == "is_args":
            return "?" if self.args else ""
        if name == "server_port":
            return str(self.server_port)
        value = getattr(self, name)
        assert isinstance(value, str)
        return value

    def authority(self, use_port: bool) -> str:
        """The host part of a redirect the gateway builds: the Host as sent, or with
        `use-port-in-redirects` the host name and the port the request arrived on."""
        if not use_port:
            return self.http_host or self.host
        if DEFAULT_PORTS.get(self.scheme) == self.server_port:
            return self.host
        return f"{self.host}:{self.server_port}"


def redirect_for(
    redirects: Redirects, request: RequestLine, default_code: int
) -> tuple[int, str] | None:
    """(status, Location) when the route answers this request with a redirect, else None."""
    if redirects.app_root is not None and request.uri == "/":
        query = f"?{request.args}" if request.args else ""
        if redirects.relative:
            return 302, redirects.app_root + query
        origin = f"{request.scheme}://{request.authority(redirects.use_port)}"
        return 302, origin + redirects.app_root + query
    redirect = redirects.redirect
    if redirect is None:
        return None
    location = redirect.location.expand(request.variable)
    return redirect.code or default_code, location
