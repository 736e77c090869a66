"""Canary attachment in the compiler and the per-request decision (reference §3)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import pytest

from annotations.canary import Canary, Selector
from routing.canary import choose_canary
from routing.model import BackendKey, CanaryBackend
from tests.objects import compile_objects, ingress, path, problems, rule

N = "nginx.ingress.kubernetes.io/"


@dataclass
class Request:
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())

    def cookie(self, name: str) -> str | None:
        return self.cookies.get(name)

    def query(self, name: str) -> str | None:
        return self.args.get(name)


def backend(name: str, config: Canary) -> CanaryBackend:
    return CanaryBackend(
        namespace="default",
        ingress=name,
        service=name,
        port=80,
        backend=BackendKey(f"default/{name}:80"),
        field="spec.rules[0].http.paths[0]",
        header=config.header,
        query=config.query,
        cookie=config.cookie,
        share=config.share,
    )


def decide(config: Canary, request: Request, draw: float = 0.5) -> str:
    chosen = choose_canary([backend("canary", config)], request, lambda: draw)
    return "canary" if chosen is not None else "primary"


H = Selector("X-Canary")
C = Selector("beta")


# The nginx decision table (reference §3.1 steps 3-5), one cell per case.
@pytest.mark.parametrize(
    ("config", "request_", "expected"),
    [
        # header always/never beat cookie and weight
        pytest.param(
            Canary(header=H, cookie=C),
            Request({"X-Canary": "always"}, {"beta": "never"}),
            "canary",
            id="header-always-beats-cookie-never",
        ),
        pytest.param(
            Canary(header=H, weight=100),
            Request({"x-canary": "never"}),
            "primary",
            id="header-never-skips-weight",
        ),
        pytest.param(
            Canary(header=H, cookie=C),
            Request({"X-Canary": "never"}, {"beta": "always"}),
            "primary",
            id="header-never-skips-cookie",
        ),
        pytest.param(
            Canary(header=H, cookie=C),
            Request({"X-Canary": "other"}, {"beta": "always"}),
            "canary",
            id="header-other-falls-to-cookie",
        ),
        pytest.param(
            Canary(header=H, weight=100),
            Request({"X-Canary": "other"}),
            "canary",
            id="header-other-falls-to-weight",
        ),
        pytest.param(
            Canary(header=H),
            Request({"X-Canary": "ALWAYS"}),
            "primary",
            id="always-is-case-sensitive",
        ),
        pytest.param(Canary(header=H, weight=0), Request(), "primary", id="no-header-weight-0"),
        # header value: exact equality only; always/never lose their meaning
        pytest.param(
            Canary(header=Selector("X-Canary", "v2")),
            Request({"X-Canary": "v2"}),
            "canary",
            id="value-equal",
        ),
        pytest.param(
            Canary(header=Selector("X-Canary", "v2")),
            Request({"X-Canary": "always"}),
            "primary",
            id="value-set-always-not-honoured",
        ),
        pytest.param(
            Canary(header=Selector("X-Canary", "v2"), weight=100),
            Request({"X-Canary": "never"}),
            "canary",
            id="value-set-never-falls-to-weight",
        ),
        pytest.param(
            Canary(header=Selector("X-Canary", "v2"), cookie=C),
            Request({"X-Canary": "v3"}, {"beta": "always"}),
            "canary",
            id="value-mismatch-falls-to-cookie",
        ),
        # header pattern: unanchored search
        pytest.param(
            Canary(header=Selector("X-Canary", None, re.compile("v[23]"))),
            Request({"X-Canary": "build-v3"}),
            "canary",
            id="pattern-partial-match",
        ),
        pytest.param(
            Canary(header=Selector("X-Canary", None, re.compile("v[23]")), weight=0),
            Request({"X-Canary": "v4"}),
            "primary",
            id="pattern-no-match-falls-to-weight",
        ),
        # cookie
        pytest.param(
            Canary(cookie=C, weight=0),
            Request(cookies={"beta": "always"}),
            "canary",
            id="cookie-always",
        ),
        pytest.param(
            Canary(cookie=C, weight=100),
            Request(cookies={"beta": "never"}),
            "primary",
            id="cookie-never-skips-weight",
        ),
        pytest.param(
            Canary(cookie=C, weight=100),
            Request(cookies={"beta": "x"}),
            "canary",
            id="cookie-other-falls-to-weight",
        ),
        pytest.param(
            Canary(cookie=Selector("beta", "yes")),
            Request(cookies={"beta": "yes"}),
            "canary",
            id="cookie-value-equal",
        ),
        pytest.param(
            Canary(cookie=Selector("beta", "yes")),
            Request(cookies={"beta": "always"}),
            "primary",
            id="cookie-value-set-always-not-honoured",
        ),
        # query (MSE), at the header's level
        pytest.param(
            Canary(query=Selector("ver")),
            Request(args={"ver": "always"}),
            "canary",
            id="query-always",
        ),
        pytest.param(
            Canary(query=Selector("ver"), cookie=C),
            Request(args={"ver": "never"}, cookies={"beta": "always"}),
            "primary",
            id="query-never-skips-cookie",
        ),
        pytest.param(
            Canary(query=Selector("ver", "2")),
            Request(args={"ver": "2"}),
            "canary",
            id="query-value",
        ),
        pytest.param(
            Canary(header=H, query=Selector("ver")),
            Request({"X-Canary": "x"}, args={"ver": "always"}),
            "canary",
            id="query-after-undecided-header",
        ),
        # weight: nginx's math.random(total) <= weight
        pytest.param(Canary(weight=100), Request(), "canary", id="weight-100-always"),
        pytest.param(Canary(weight=0), Request(), "primary", id="weight-0-never"),
        pytest.param(Canary(weight=30), Request(), "primary", id="weight-30-draw-0.5"),
    ],
)
def test_nginx_decision_table(config: Canary, request_: Request, expected: str) -> None:
    assert decide(config, request_) == expected


def test_weight_draw_boundary() -> None:
    assert decide(Canary(weight=30), Request(), draw=0.2999) == "canary"
    assert decide(Canary(weight=30), Request(), draw=0.30) == "primary"


def test_several_canaries_by_precedence_level() -> None:
    v1 = backend("v1", Canary(header=Selector("X-Version", "v1")))
    v2 = backend("v2", Canary(header=Selector("X-Version", "v2")))
    v3 = backend("v3", Canary(weight=20))
    cookie = backend("c", Canary(cookie=Selector("beta")))
    canaries = [v1, v2, cookie, v3]

    def pick(request: Request, draw: float = 0.9) -> str:
        chosen = choose_canary(canaries, request, lambda: draw)
        return chosen.ingress if chosen else "primary"

    assert pick(Request({"X-Version": "v1"})) == "v1"
    assert pick(Request({"X-Version": "v2"}, {"beta": "always"})) == "v2"  # header beats cookie
    assert pick(Request({"X-Version": "v9"}, {"beta": "always"})) == "c"
    assert pick(Request(), draw=0.1) == "v3"
    assert pick(Request(), draw=0.9) == "primary"


def test_never_rules_out_only_that_canary() -> None:
    opted_out = backend("a", Canary(header=Selector("X-A"), weight=50))
    other = backend("b", Canary(weight=50))
    assert choose_canary([opted_out, other], Request({"X-A": "never"}), lambda: 0.1) is None
    assert choose_canary([opted_out, other], Request({"X-A": "never"}), lambda: 0.6) is other


# --- the compiler ---------------------------------------------------------------------------


def canary_ingress(name: str, annotations: dict[str, str], *rules: dict, **kw: object) -> dict:
    return ingress(name, *rules, annotations={N + "canary": "true", **annotations}, **kw)  # type: ignore[arg-type]


def test_canary_attaches_to_the_route_with_the_same_host_path_and_type() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "main",
                rule("a.test", path("/api", service="v1"), path("/web", service="web")),
                created="2024-01-01T00:00:00Z",
            ),
            canary_ingress(
                "beta", {N + "canary-weight": "25"}, rule("a.test", path("/api", service="v2"))
            ),
        ]
    )
    routes = {r.path: r for r in snapshot.table.routes}
    assert [c.service for c in routes["/api"].canaries] == ["v2"]
    assert routes["/api"].canaries[0].share == 0.25
    assert routes["/web"].canaries == ()  # shaping stays on its route
    assert [r.ingress for r in snapshot.table.routes] == ["main", "main"]


@pytest.mark.parametrize(
    ("canary_rule", "why"),
    [
        pytest.param(
            rule("a.test", path("/api", "Exact", service="v2")), "other pathType", id="path-type"
        ),
        pytest.param(
            rule("a.test", path("/api/", service="v2")), "other path text", id="path-text"
        ),
        pytest.param(rule("b.test", path("/api", service="v2")), "other host", id="host"),
    ],
)
def test_canary_without_primary_is_a_warning(canary_rule: dict, why: str) -> None:
    snapshot = compile_objects(
        [
            ingress("main", rule("a.test", path("/api", service="v1"))),
            canary_ingress("beta", {N + "canary-weight": "25"}, canary_rule),
        ]
    )
    [route] = snapshot.table.routes
    assert route.canaries == (), why
    [problem] = [p for p in problems(snapshot) if p.name == "beta"]
    assert problem.code == "CanaryWithoutPrimary" and problem.severity == "warning"
    assert problem.field == "spec.rules[0].http.paths[0]"


def test_canary_attaches_to_the_winner_of_a_conflict_not_the_loser() -> None:
    snapshot = compile_objects(
        [
            ingress("old", rule("a.test", path("/", service="v1")), created="2024-01-01T00:00:00Z"),
            ingress("new", rule("a.test", path("/", service="v0")), created="2024-02-01T00:00:00Z"),
            canary_ingress(
                "beta", {N + "canary-weight": "10"}, rule("a.test", path("/", service="v2"))
            ),
        ]
    )
    [route] = snapshot.table.routes
    assert route.ingress == "old" and [c.service for c in route.canaries] == ["v2"]


def test_several_weighted_canaries_are_normalised_when_above_100_percent() -> None:
    snapshot = compile_objects(
        [
            ingress(
                "main", rule("a.test", path("/", service="v1")), created="2024-01-01T00:00:00Z"
            ),
            canary_ingress(
                "c1",
                {N + "canary-weight": "60"},
                rule("a.test", path("/", service="v2")),
                created="2024-01-02T00:00:00Z",
            ),
            canary_ingress(
                "c2",
                {N + "canary-weight": "90"},
                rule("a.test", path("/", service="v3")),
                created="2024-01-03T00:00:00Z",
            ),
            canary_ingress(
                "c3",
                {N + "canary-weight": "10"},
                rule("a.test", path("/", service="v4")),
                created="2024-01-04T00:00:00Z",
            ),
        ]
    )
    [route] = snapshot.table.routes
    assert [c.ingress for c in route.canaries] == ["c1", "c2", "c3"]  # oldest first
    assert [round(c.share, 4) for c in route.canaries] == [0.375, 0.5625, 0.0625]


def test_canary_default_backend_joins_the_default_route() -> None:
    snapshot = compile_objects(
        [
            ingress("main", default_backend={"service": {"name": "v1", "port": {"number": 80}}}),
            canary_ingress(
                "beta",
                {N + "canary-weight": "50"},
                default_backend={"service": {"name": "v2", "port": {"number": 80}}},
            ),
        ]
    )
    [route] = snapshot.table.routes
    assert route.is_default_backend
    assert [(c.service, c.field) for c in route.canaries] == [("v2", "spec.defaultBackend")]


def test_canary_change_changes_the_digest() -> None:
    def table(weight: str) -> str:
        return compile_objects(
            [
                ingress("main", rule("a.test", path("/", service="v1"))),
                canary_ingress(
                    "beta", {N + "canary-weight": weight}, rule("a.test", path("/", service="v2"))
                ),
            ]
        ).digest

    assert table("10") != table("20")


def test_weights_are_statistically_right() -> None:
    """30 % with one canary: 20,000 seeded draws stay within 1.5 points (> 6 sigma)."""
    rng = random.Random(1234)
    canary = backend("c", Canary(weight=30))
    hits = sum(choose_canary([canary], Request(), rng.random) is not None for _ in range(20_000))
    assert abs(hits / 20_000 - 0.30) < 0.015


@pytest.mark.parametrize(
    ("primary", "canary", "expected_cookie"),
    [
        pytest.param({N + "affinity": "cookie"}, {}, "INGRESSCOOKIE", id="sticky-inherits"),
        pytest.param(
            {N + "affinity": "cookie"},
            {N + "affinity-canary-behavior": "legacy"},
            None,
            id="legacy-does-not",
        ),
        pytest.param(
            {N + "affinity": "cookie"},
            {N + "affinity": "cookie", N + "session-cookie-name": "beta"},
            "beta",
            id="own-cookie",
        ),
        pytest.param({}, {}, None, id="no-affinity"),
    ],
)
def test_canary_affinity_and_balancing(
    primary: dict[str, str], canary: dict[str, str], expected_cookie: str | None
) -> None:
    """ingress-nginx keeps a canary Ingress's `load-balance`, `upstream-hash-by` and affinity
    keys for its backend; with `sticky` behaviour the primary's cookie settings carry over."""
    snapshot = compile_objects(
        [
            ingress("main", rule("a.test", path("/", service="main")), annotations=primary),
            ingress(
                "beta",
                rule("a.test", path("/", service="beta")),
                annotations={N + "canary": "true", N + "load-balance": "ewma", **canary},
            ),
        ]
    )
    [route] = snapshot.table.routes
    [attached] = route.canaries
    assert attached.balancing is not None and attached.balancing.algorithm == "ewma"
    assert route.balancing is None
    cookie = attached.affinity
    assert (cookie.name if cookie is not None else None) == expected_cookie
    assert not any("no effect on a canary" in p.reason for p in snapshot.problems)
