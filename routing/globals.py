"""Global settings: the gateway's ConfigMap, under ingress-nginx's key names.

The ConfigMap named by `--configmap NS/NAME` (in file mode, read from the manifests too) sets
these for every route. Each key is declared once in `SETTINGS` with its validator, default and
documentation; `docs/configuration.md` is generated from the same table.

A changed value applies without a restart. An invalid value is a problem naming the key, and the
previous value of that key stays in force (the other keys still apply).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace

from annotations._validators import boolean, cidrs, count, seconds, size
from annotations.retries import conditions as next_upstream
from annotations.tlspolicy import cipher_list
from annotations.upstreamtls import protocols
from routing.frozen import Frozen
from routing.problems import Problem


def redirect_code(raw: str) -> int:
    """`http-redirect-code`: one of the statuses ingress-nginx allows."""
    code = count(raw)
    if code not in (301, 302, 307, 308):
        raise ValueError(f"{raw!r}: use 301, 302, 307 or 308")
    return code


def error_status(raw: str) -> int:
    """A status for refused requests: 400 to 599, as nginx's `limit_req_status` allows."""
    code = count(raw)
    if not 400 <= code <= 599:
        raise ValueError(f"{raw!r}: use a status from 400 to 599")
    return code


def at_least_one(raw: str) -> int:
    """A whole number of one or more."""
    value = count(raw)
    if value < 1:
        raise ValueError(f"{raw!r}: must be at least 1")
    return value


def header_buffers(raw: str) -> tuple[int, int]:
    """`large-client-header-buffers`: ``NUMBER SIZE`` as in nginx, e.g. ``4 8k``."""
    parts = raw.split()
    if len(parts) != 2:
        raise ValueError(f"{raw!r} is not 'NUMBER SIZE' (e.g. '4 8k')")
    number, buffer = count(parts[0]), size(parts[1])
    if number < 1 or buffer < 1024:
        raise ValueError(f"{raw!r}: need at least one buffer of at least 1k")
    return number, buffer


DEFAULT_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
    )
)
"""ingress-nginx's default `ssl-ciphers` (TLS 1.2; TLS 1.3 suites are OpenSSL's)."""


@dataclass(frozen=True, slots=True)
class GlobalConfig(Frozen):
    """Typed global settings. Field names are the ConfigMap keys with `_` for `-`."""

    use_forwarded_headers: bool = False
    proxy_real_ip_cidr: tuple[str, ...] = ("0.0.0.0/0", "::/0")
    compute_full_forwarded_for: bool = False
    proxy_connect_timeout: float = 5.0
    proxy_read_timeout: float = 60.0
    proxy_send_timeout: float = 60.0
    keep_alive: float = 75.0
    keep_alive_requests: int = 1000
    upstream_keepalive_connections: int = 320
    upstream_keepalive_timeout: float = 60.0
    upstream_keepalive_requests: int = 10000
    client_header_timeout: float = 60.0
    client_body_timeout: float = 60.0
    large_client_header_buffers: tuple[int, int] = (4, 8192)
    proxy_body_size: int = 1024 * 1024
    proxy_next_upstream: frozenset[str] = frozenset({"error", "timeout"})
    proxy_next_upstream_tries: int = 3
    proxy_next_upstream_timeout: float = 0.0
    upstream_max_fails: int = 3
    upstream_fail_timeout: float = 10.0
    disable_access_log: bool = False
    http_redirect_code: int = 308
    ssl_redirect: bool = True
    force_ssl_redirect: bool = False
    preserve_trailing_slash: bool = False
    hsts: bool = True
    hsts_max_age: int = 31536000
    hsts_include_subdomains: bool = True
    hsts_preload: bool = False
    ssl_protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    ssl_ciphers: str = DEFAULT_CIPHERS
    whitelist_source_range: tuple[str, ...] = ()
    denylist_source_range: tuple[str, ...] = ()
    block_cidrs: tuple[str, ...] = ()
    limit_req_status_code: int = 503
    limit_conn_status_code: int = 503
    limit_zone_clients: int = 65536
    host_wide_regex: bool = False

    max_head_bytes: int = field(init=False, compare=False, repr=False)
    """Request line plus headers, at most (431 beyond): all the large buffers together.
    Derived from `large_client_header_buffers`, like `max_uri_bytes`; fields rather than
    properties because the proxy reads them for every request."""
    max_uri_bytes: int = field(init=False, compare=False, repr=False)
    """Request target, at most (414 beyond): one large buffer, as nginx."""

    def __post_init__(self) -> None:
        number, buffer = self.large_client_header_buffers
        object.__setattr__(self, "max_head_bytes", number * buffer)
        object.__setattr__(self, "max_uri_bytes", buffer)


@dataclass(frozen=True, slots=True)
class Setting(Frozen):
    """One ConfigMap key: how it is read and what it means."""

    key: str
    validator: Callable[[str], object]
    value_format: str
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "use-forwarded-headers",
        boolean,
        "bool",
        "Trust `X-Forwarded-*` and `X-Forwarded-For` from peers in `proxy-real-ip-cidr` "
        "(the gateway runs behind another proxy). Off: every client value is replaced.",
    ),
    Setting(
        "proxy-real-ip-cidr",
        cidrs,
        "comma list of CIDRs",
        "The peers trusted when `use-forwarded-headers` is on. Default: any address, as "
        "ingress-nginx; narrow it to your load balancer's ranges.",
    ),
    Setting(
        "compute-full-forwarded-for",
        boolean,
        "bool",
        "From a trusted peer, append the peer's address to the incoming `X-Forwarded-For` "
        "instead of replacing it with the client address.",
    ),
    Setting(
        "proxy-connect-timeout",
        seconds,
        "seconds",
        "Connecting to a pod; on expiry the next endpoint is tried, else 504.",
    ),
    Setting(
        "proxy-read-timeout",
        seconds,
        "seconds",
        "Between two reads from the pod (response head included), from when the request "
        "is all sent; on expiry 504.",
    ),
    Setting(
        "proxy-send-timeout",
        seconds,
        "seconds",
        "How long the pod may take none of the request (from when writes block); on "
        "expiry 504.",
    ),
    Setting(
        "keep-alive",
        seconds,
        "seconds",
        "Idle time a client connection is kept open between requests; 0 disables keep-alive.",
    ),
    Setting(
        "keep-alive-requests",
        count,
        "number",
        "Requests served on one client connection before it is closed.",
    ),
    Setting(
        "upstream-keepalive-connections",
        count,
        "number",
        "Idle connections kept open to each pod for reuse; 0 disables reuse.",
    ),
    Setting(
        "upstream-keepalive-timeout",
        seconds,
        "seconds",
        "How long an idle pod connection is kept; keep it below the pod's own keep-alive.",
    ),
    Setting(
        "upstream-keepalive-requests",
        count,
        "number",
        "Requests sent on one pod connection before it is closed.",
    ),
    Setting(
        "client-header-timeout",
        seconds,
        "seconds",
        "Total time allowed to receive a request head; then 408 and close.",
    ),
    Setting(
        "client-body-timeout",
        seconds,
        "seconds",
        "Time allowed between two reads of a request body; then 408 (or close).",
    ),
    Setting(
        "large-client-header-buffers",
        header_buffers,
        "`NUMBER SIZE`",
        "Request head limit: the request target may use one buffer (414 beyond) and the "
        "whole head NUMBER times SIZE (431 beyond).",
    ),
    Setting(
        "proxy-body-size",
        size,
        "size (`1m`, `512k`, `0` = unlimited)",
        "Largest request body; larger ones get 413.",
    ),
    Setting(
        "proxy-next-upstream",
        next_upstream,
        "list of conditions",
        "When a failed try moves to the next endpoint (`error`, `timeout`, `invalid_header`, "
        "`http_5xx`…, `non_idempotent`, or `off`; docs/routing.md#retries). Connect failures "
        "are always retried unless `off`: the request never reached the pod.",
    ),
    Setting(
        "proxy-next-upstream-tries",
        count,
        "number",
        "Tries per request, the first included; 0 = one per endpoint.",
    ),
    Setting(
        "proxy-next-upstream-timeout",
        seconds,
        "seconds",
        "No new try starts this long after the first one began; 0 = no limit.",
    ),
    Setting(
        "upstream-max-fails",
        count,
        "number",
        "Passive health: failed tries within `upstream-fail-timeout` that take an endpoint out "
        "of rotation for that long (never more than half of a Service's endpoints); 0 = off.",
    ),
    Setting(
        "upstream-fail-timeout",
        seconds,
        "seconds",
        "Passive health: the window failures are counted in, and how long an ejected endpoint "
        "stays out.",
    ),
    Setting("disable-access-log", boolean, "bool", "Stop writing the JSON access log."),
    Setting(
        "http-redirect-code",
        redirect_code,
        "301, 302, 307 or 308",
        "Status of the redirects the gateway makes for HTTPS (`ssl-redirect`) and "
        "`from-to-www-redirect`.",
    ),
    Setting(
        "ssl-redirect",
        boolean,
        "bool",
        "Redirect plain-HTTP requests to HTTPS on hosts with TLS, unless an Ingress's "
        "`ssl-redirect` annotation says otherwise.",
    ),
    Setting(
        "force-ssl-redirect",
        boolean,
        "bool",
        "Redirect plain-HTTP requests to HTTPS on every host, TLS here or not (the "
        "`force-ssl-redirect` annotation overrides it per Ingress).",
    ),
    Setting(
        "preserve-trailing-slash",
        boolean,
        "bool",
        "Keep a trailing `/` in HTTPS redirects (the annotation of that name overrides it).",
    ),
    Setting(
        "hsts",
        boolean,
        "bool",
        "Send `Strict-Transport-Security` on HTTPS responses for hosts with their own "
        "certificate (not the default one), replacing the pod's.",
    ),
    Setting("hsts-max-age", count, "seconds", "`max-age` of the HSTS header."),
    Setting(
        "hsts-include-subdomains", boolean, "bool", "Add `includeSubDomains` to the HSTS header."
    ),
    Setting("hsts-preload", boolean, "bool", "Add `preload` to the HSTS header."),
    Setting(
        "ssl-protocols",
        protocols,
        "`TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`, blank separated",
        "TLS versions the HTTPS listener accepts: from the lowest listed to the highest (a gap "
        "is filled). Hosts whose Ingress sets `tls-min-protocol-version` or "
        "`tls-max-protocol-version` use their own bound. OpenSSL 3 also needs `@SECLEVEL=0` "
        "in `ssl-ciphers` before it speaks TLS 1.0 or 1.1.",
    ),
    Setting(
        "ssl-ciphers",
        cipher_list,
        "OpenSSL cipher list",
        "Ciphers for TLS 1.2 and older on the HTTPS listener (TLS 1.3 suites are OpenSSL's); "
        "hosts whose Ingress sets `ssl-ciphers` use their own. A list naming no cipher "
        "OpenSSL knows is refused.",
    ),
    Setting(
        "whitelist-source-range",
        cidrs,
        "comma list of CIDRs",
        "Only clients inside these networks are served (403 for others) on routes whose "
        "Ingress and host set no allow list of their own.",
    ),
    Setting(
        "denylist-source-range",
        cidrs,
        "comma list of CIDRs",
        "Clients inside these networks get 403 on routes whose Ingress and host set no deny "
        "list of their own.",
    ),
    Setting(
        "block-cidrs",
        cidrs,
        "comma list of CIDRs",
        "Clients inside these networks get 403 for every request, whatever the route.",
    ),
    Setting(
        "limit-req-status-code",
        error_status,
        "400-599",
        "Status of requests refused by `limit-rps` / `limit-rpm`.",
    ),
    Setting(
        "limit-conn-status-code",
        error_status,
        "400-599",
        "Status of requests refused by `limit-connections`.",
    ),
    Setting(
        "limit-zone-clients",
        at_least_one,
        "number",
        "Our own key. Client addresses each `limit-rps` / `limit-rpm` zone (one per Ingress) "
        "remembers; the least recently seen are forgotten first, and start afresh. Bounds the "
        "memory many distinct clients can take (ingress-nginx's 5m zones hold about as many).",
    ),
    Setting(
        "host-wide-regex",
        boolean,
        '"true" or "false"',
        "Our own key. `true` restores ingress-nginx's behaviour: once any Ingress of a host "
        "uses `use-regex` or `rewrite-target`, every path of that host, in every Ingress, is "
        "a case-insensitive regex anchored at the start (so `Exact /foo` also matches "
        "`/FOO/bar`). By default regex mode stays within the Ingress that asked for it.",
    ),
)


def _attribute(key: str) -> str:
    return key.replace("-", "_")


def parse_global_config(
    data: Mapping[str, str], previous: GlobalConfig, *, source: tuple[str, str] = ("", "")
) -> tuple[GlobalConfig, tuple[Problem, ...]]:
    """Apply ConfigMap `data` over the defaults, keeping `previous` values for invalid keys.

    `source` is the ConfigMap's (namespace, name), for problem messages.
    """
    known = {s.key: s for s in SETTINGS}
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for key, raw in sorted(data.items()):
        setting = known.get(key)
        if setting is None:
            continue  # ingress-nginx has hundreds of keys; the ones we do not use are no error
        try:
            values[_attribute(key)] = setting.validator(raw)
        except ValueError as err:
            values[_attribute(key)] = getattr(previous, _attribute(key))
            problems.append(
                Problem(
                    "ConfigMap",
                    source[0],
                    source[1],
                    f"data.{key}",
                    f"{err}; the previous value stays in force",
                    code="InvalidSetting",
                )
            )
    return replace(GlobalConfig(), **values), tuple(problems)  # type: ignore[arg-type]


def describe_default(key: str) -> str:
    """The default of a key, as a ConfigMap would spell it."""
    value = getattr(GlobalConfig(), _attribute(key))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if key == "proxy-body-size":
        return "1m"
    if key == "large-client-header-buffers":
        return "4 8k"
    if isinstance(value, tuple):
        return (", " if key.endswith("cidr") else " ").join(map(str, value))
    if isinstance(value, frozenset):
        return " ".join(sorted(value))
    return str(value)


assert {s.key for s in SETTINGS} == {
    f.name.replace("_", "-") for f in fields(GlobalConfig) if f.init
}
