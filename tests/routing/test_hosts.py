"""Host rules (reference §4.3): exact, single-label wildcard, any host; exact > wildcard > any."""

from __future__ import annotations

import pytest

from tests.objects import compile_objects, ingress, path, problems, rule

OBJECTS = [
    ingress("exact", rule("Foo.Example.com", path("/", service="exact"))),
    ingress("wild", rule("*.example.com", path("/", service="wild"))),
    ingress("any", rule(None, path("/", service="any"))),
    ingress("deep", rule("*.b.example.com", path("/", service="deep"))),
]


@pytest.mark.parametrize(
    ("host", "service"),
    [
        pytest.param("foo.example.com", "exact", id="exact-host"),
        pytest.param("FOO.example.COM", "exact", id="host-is-case-insensitive"),
        pytest.param("foo.example.com:8080", "exact", id="port-is-stripped"),
        pytest.param("foo.example.com.", "exact", id="trailing-dot-tolerated"),
        pytest.param("bar.example.com", "wild", id="wildcard-one-label"),
        pytest.param("x.b.example.com", "deep", id="longer-wildcard-own-suffix"),
        pytest.param("x.y.example.com", "any", id="wildcard-not-two-labels"),
        pytest.param("example.com", "any", id="wildcard-not-bare-domain"),
        pytest.param("other.test", "any", id="unknown-host-uses-any-host-rules"),
        pytest.param("[::1]:8080", "any", id="ipv6-literal-host"),
        pytest.param("", "any", id="no-host-header"),
    ],
)
def test_host_selection(host: str, service: str) -> None:
    from routing.paths import request_host

    route = compile_objects(OBJECTS).matcher.match(request_host(host), "/")
    assert route is not None and route.service == service


def test_chosen_host_does_not_fall_back_to_other_hosts() -> None:
    """As nginx servers: a request for a known host never uses another host's paths."""
    snapshot = compile_objects(
        [
            ingress("a", rule("a.test", path("/only-a"))),
            ingress("b", rule(None, path("/shared"))),
        ]
    )
    assert snapshot.matcher.match("a.test", "/shared") is None
    assert snapshot.matcher.match("z.test", "/shared") is not None


def test_without_any_host_rules_unknown_host_is_404() -> None:
    snapshot = compile_objects([ingress("a", rule("a.test", path("/")))])
    assert snapshot.matcher.match("b.test", "/") is None


@pytest.mark.parametrize(
    "bad_host",
    [
        pytest.param("*", id="bare-star"),
        pytest.param("a.*.com", id="inner-star"),
        pytest.param("*a.com", id="star-without-dot"),
        pytest.param("a_b.com", id="underscore"),
    ],
)
def test_invalid_hosts_refuse_the_ingress(bad_host: str) -> None:
    snapshot = compile_objects([ingress("bad", rule(bad_host, path("/")))])
    assert snapshot.table.routes == ()
    [problem] = problems(snapshot)
    assert problem.field == "spec.rules[0].host" and problem.severity == "error"
