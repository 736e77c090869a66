"""Property: the indexed matcher agrees with a naive, obviously-correct scan of the rules.

The naive side restates the rules with no index: pick the virtual host (exact name, else a
wildcard covering exactly one label, else the any-host rules), drop later duplicates, then take
Exact, else the Prefix with the most matching path elements, else the first matching regex of
the longest pattern, else the catch-all `/`, else the host's default backend. Routes restricted
by `match-method` are claimed separately from plain ones at the same path; a request whose
method they exclude ignores them, and among routes at one path the method-restricted ones with
fewer methods come first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.paths import normalise_request_path
from tests.objects import RequestStub, backend, compile_objects, ingress, path, rule

HOSTS = ["a.test", "*.a.test", "b.a.test", None]
REQUEST_HOSTS = ["a.test", "b.a.test", "x.a.test", "y.x.a.test", "other.test"]
SEGMENTS = ["a", "b"]
REGEXES = ["/a.*", "/ab?", "/b/[ab]+", "/a/b.*"]


def _elements(value: str) -> tuple[str, ...]:
    return tuple(e for e in value.split("/") if e)


@dataclass
class NaiveRoute:
    ingress: str
    rule: int
    index: int
    host: str
    path: str
    kind: str  # exact | prefix | regex | default
    methods: tuple[str, ...] = ()
    age: int = 0

    @property
    def rank(self) -> tuple[int, int, int]:
        return (0 if self.methods else 1, len(self.methods), self.age)


METHOD_KEY = "higress.io/match-method"


def naive_match(
    ingresses: list[dict[str, Any]], host: str, request: str, method: str = "GET"
) -> tuple[str, int, int] | None:
    routes: list[NaiveRoute] = []
    claimed: set[tuple[str, str, object, tuple[str, ...]]] = set()
    created: set[str] = set()
    defaults: dict[str, NaiveRoute] = {}
    for age, ing in enumerate(ingresses):  # already oldest first (file position)
        name = ing["metadata"]["name"]
        methods = tuple(sorted(ing["metadata"]["annotations"].get(METHOD_KEY, "").split()))
        regex = (
            ing["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/use-regex") == "true"
        )
        new_hosts = []
        for i, r in enumerate(ing["spec"]["rules"]):
            h = r.get("host", "")
            if h and h not in created:
                created.add(h)
                new_hosts.append(h)
            for j, p in enumerate(r["http"]["paths"]):
                if regex and p["pathType"] == "ImplementationSpecific":
                    kind, key = "regex", p["path"]
                elif p["pathType"] == "Exact":
                    kind, key = "exact", p["path"]
                else:
                    kind, key = "prefix", _elements(p["path"])
                if (h, kind, key, methods) not in claimed:
                    claimed.add((h, kind, key, methods))
                    routes.append(NaiveRoute(name, i, j, h, p["path"], kind, methods, age))
        if "defaultBackend" in ing["spec"]:
            for h in new_hosts if ing["spec"]["rules"] else [""]:
                defaults.setdefault(h, NaiveRoute(name, -1, -1, h, "/", "default"))
    hosts = {r.host for r in routes} | set(defaults)
    if host in hosts:
        vhost = host
    else:
        label, _, rest = host.partition(".")
        vhost = f"*.{rest}" if label and f"*.{rest}" in hosts else ""
    mine = sorted(
        (r for r in routes if r.host == vhost and (not r.methods or method in r.methods)),
        key=lambda r: r.rank,
    )
    exact = [r for r in mine if r.kind == "exact" and r.path == request]
    prefixes = [
        r
        for r in mine
        if r.kind == "prefix"
        and _elements(r.path)
        and _elements(request)[: len(_elements(r.path))] == _elements(r.path)
    ]
    regexes = sorted(
        (r for r in mine if r.kind == "regex" and re.search("^" + r.path, request, re.I)),
        key=lambda r: -len(r.path),  # stable: by rank among equal lengths
    )
    catch_all = [r for r in mine if r.kind == "prefix" and not _elements(r.path)]
    if exact:
        found = exact[0]
    elif prefixes:
        deepest = max(len(_elements(r.path)) for r in prefixes)
        found = next(r for r in prefixes if len(_elements(r.path)) == deepest)
    elif regexes:
        found = regexes[0]
    elif catch_all:
        found = catch_all[0]
    elif vhost in defaults:
        found = defaults[vhost]
    else:
        return None
    return (found.ingress, found.rule, found.index)


def _all_paths(depth: int) -> list[str]:
    paths = ["/"]
    level = [""]
    for _ in range(depth):
        level = [f"{p}/{seg}" for p in level for seg in SEGMENTS]
        paths += level + [p + "/" for p in level]
    return paths


# Every request path up to depth 3 is checked against every generated Ingress set.
REQUESTS = _all_paths(3)
rule_paths = st.sampled_from([*_all_paths(3), "/a//b", "/b/./a"])
path_entries = st.tuples(rule_paths, st.sampled_from(["Exact", "Prefix", "ImplementationSpecific"]))
regex_entries = st.tuples(st.sampled_from(REGEXES), st.just("ImplementationSpecific"))


@st.composite
def ingress_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for n in range(draw(st.integers(1, 6))):
        use_regex = draw(st.booleans())
        entries = regex_entries | path_entries if use_regex else path_entries
        rules = [
            rule(h, *(path(p, t) for p, t in draw(st.lists(entries, min_size=1, max_size=5))))
            for h in draw(st.lists(st.sampled_from(HOSTS), max_size=3))
        ]
        default = backend("dflt") if draw(st.booleans()) or not rules else None
        annotations = {"nginx.ingress.kubernetes.io/use-regex": "true"} if use_regex else {}
        methods = draw(st.sampled_from([None, None, "GET", "GET POST", "POST"]))
        if methods:
            annotations[METHOD_KEY] = methods
        out.append(ingress(f"i{n}", *rules, annotations=annotations, default_backend=default))
    return out


@settings(max_examples=200, deadline=None)
@given(ingress_sets())
def test_indexed_matcher_agrees_with_naive_scan(ingresses: list[dict[str, Any]]) -> None:
    snapshot = compile_objects(ingresses)
    for host in REQUEST_HOSTS:
        for request in REQUESTS:
            normalised = normalise_request_path(request)
            assert normalised is not None
            for method in ("GET", "POST", "PUT"):
                route = snapshot.matcher.match(host, normalised, RequestStub(method))
                got = None if route is None else (route.ingress, route.rule, route.index)
                expected = naive_match(ingresses, host, normalised, method)
                assert got == expected, (host, request, method)
