"""The balancer's algorithms, on their own: hash stability, least_conn, ewma, random."""

from __future__ import annotations

import random
from collections import Counter

from annotations.balancing import Balancing, hash_template
from gateway.proxy.balancer import Balancer, Ring, endpoint_ring, subset_ring
from gateway.proxy.request import RequestHead, check
from gateway.proxy.variables import expand as hash_key
from routing.globals import GlobalConfig
from routing.match import Matcher
from routing.model import BackendKey, CanaryBackend, Endpoint, Route, RouteTable
from routing.snapshot import Snapshot

KEY = BackendKey("default/app:80")


def pods(n: int) -> tuple[Endpoint, ...]:
    return tuple(Endpoint(f"10.0.0.{i}", 8080) for i in range(1, n + 1))


def owners(ring: Ring[Endpoint], keys: list[str]) -> list[Endpoint | None]:
    return [ring.pick(k) for k in keys]


KEYS = [f"/item/{i}" for i in range(20_000)]


def test_a_pod_joining_moves_about_one_nth_of_the_keys_and_only_to_itself() -> None:
    before = owners(endpoint_ring(pods(10)), KEYS)
    after = owners(endpoint_ring(pods(11)), KEYS)
    moved = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert {b for _, b in moved} == {Endpoint("10.0.0.11", 8080)}
    assert 0.05 < len(moved) / len(KEYS) < 0.14  # ideal 1/11 = 0.091


def test_a_pod_leaving_moves_only_its_own_keys() -> None:
    before = owners(endpoint_ring(pods(10)), KEYS)
    after = owners(endpoint_ring(pods(10)[1:]), KEYS)
    moved = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert {a for a, _ in moved} == {Endpoint("10.0.0.1", 8080)}
    assert 0.05 < len(moved) / len(KEYS) < 0.15  # ideal 1/10


def test_keys_spread_over_the_ring() -> None:
    counts = Counter(owners(endpoint_ring(pods(5)), KEYS))
    assert len(counts) == 5
    assert max(counts.values()) / min(counts.values()) < 1.6


def test_a_retry_walks_on_along_the_ring() -> None:
    ring = endpoint_ring(pods(3))
    first = ring.pick("user-7")
    assert first is not None
    second = ring.pick("user-7", lambda e: e != first)
    assert second not in (None, first)
    assert ring.pick("user-7", lambda e: False) is None


def test_subsets_are_ingress_nginx_groups() -> None:
    """Five pods in groups of two: set0 = 1,2; set1 = 3,4; set2 = 5 topped up with 1."""
    ring = subset_ring(pods(5), 2)
    groups = {ring.pick(k) for k in KEYS[:2000]}
    a, b, c, d, e = pods(5)
    assert groups == {(a, b), (c, d), (e, a)}


def test_subset_hashing_spreads_one_key_over_its_group() -> None:
    random.seed(5)
    balancer = Balancer()
    policy = Balancing(hash_by=hash_template("$uri"), subset_size=3)
    head = request("/hot")
    seen = Counter(balancer.pick(KEY, pods(9), (), policy, head) for _ in range(300))
    assert len(seen) == 3 and min(seen.values()) > 60
    [member, *_] = seen
    assert balancer.pick(KEY, pods(9), set(seen) - {member}, policy, head) == member


def request(target: str, headers: list[tuple[bytes, bytes]] = ()) -> RequestHead:  # type: ignore[assignment]
    head = RequestHead(
        "GET", target.encode(), "1.1", [(b"Host", b"Shop.test:8080"), *headers], True
    )
    assert check(head, 8192) == 0
    return head


def test_hash_key_expands_nginx_variables() -> None:
    head = request(
        "/a/../b%20c?user=u%201&x=2",
        [(b"X-Tenant", b"blue"), (b"Cookie", b"sid=s1; other=2")],
    )
    template = hash_template(
        "$host|$uri|$request_uri|$args|$arg_user|$http_x_tenant|$cookie_sid|$remote_addr|$arg_none"
    )
    assert hash_key(template, head, "192.0.2.1") == (
        "shop.test|/b c|/a/../b%20c?user=u%201&x=2|user=u%201&x=2|u 1|blue|s1|192.0.2.1|"
    )


def test_least_conn_takes_the_least_busy_endpoint() -> None:
    balancer = Balancer()
    a, b, c = pods(3)
    for _ in range(3):
        balancer.started(a)
    balancer.started(b)
    policy = Balancing("least_conn")
    assert {balancer.pick(KEY, (a, b, c), (), policy) for _ in range(50)} == {c}
    balancer.started(c)
    balancer.started(c)
    assert balancer.pick(KEY, (a, b, c), (), policy) == b
    assert balancer.pick(KEY, (a, b, c), {b}, policy) == c


def test_ewma_prefers_the_faster_endpoint() -> None:
    random.seed(7)
    balancer = Balancer()
    fast, slow = pods(2)
    for _ in range(5):
        balancer.started(fast)
        balancer.finished(fast, 0.01)
        balancer.started(slow)
        balancer.finished(slow, 0.5)
    policy = Balancing("ewma")
    assert Counter(balancer.pick(KEY, (fast, slow), (), policy) for _ in range(100)) == {fast: 100}
    assert balancer.pick(KEY, (fast, slow), {fast}, policy) == slow


def test_random_spreads_evenly() -> None:
    random.seed(11)
    balancer = Balancer()
    counts = Counter(balancer.pick(KEY, pods(4), (), Balancing("random")) for _ in range(8000))
    assert all(abs(n - 2000) < 200 for n in counts.values())  # > 4 sigma (sigma ≈ 39)


def test_in_flight_counts_never_go_negative_and_are_forgotten() -> None:
    balancer = Balancer()
    [a] = pods(1)
    balancer.finished(a, None)
    balancer.started(a)
    balancer.finished(a, None)
    assert balancer._active == {}


def test_warmup_ramps_a_new_endpoint_up(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    random.seed(3)
    clock = [100.0]
    monkeypatch.setattr("gateway.proxy.balancer.time.monotonic", lambda: clock[0])
    balancer = Balancer()
    policy = Balancing(warmup=10.0)
    a, b, c = pods(3)
    assert balancer.pick(KEY, (a, b), (), policy) in (a, b)  # the first set counts as warm

    def share_of_c() -> float:
        picks = Counter(balancer.pick(KEY, (a, b, c), (), policy) for _ in range(4000))
        return picks[c] / 4000

    assert abs(share_of_c() - 0.1 / 2.1) < 0.02  # joined now: 10 % of a full share
    clock[0] = 105.0
    assert abs(share_of_c() - 0.5 / 2.5) < 0.03  # half way
    clock[0] = 111.0
    picks = Counter(balancer.pick(KEY, (a, b, c), (), policy) for _ in range(30))
    assert sorted(picks.values()) == [10, 10, 10]  # warm: round robin again


def snapshot_with(*balancing: Balancing | None, canary: Balancing | None = None) -> Snapshot:
    routes = tuple(
        Route(
            "shop.test",
            f"/{i}",
            "prefix",
            "default",
            "shop",
            "web",
            80,
            KEY,
            0,
            i,
            balancing=policy,
            canaries=(
                (CanaryBackend("default", "c", "web2", 80, KEY, "spec", balancing=canary),)
                if canary is not None
                else ()
            ),
        )
        for i, policy in enumerate(balancing)
    )
    table = RouteTable(routes, (), "digest")
    return Snapshot(table, Matcher(routes), {KEY: pods(2)}, GlobalConfig(), (), "digest")


def test_load_is_counted_only_for_a_route_table_that_balances_by_load() -> None:
    """`least_conn` and `ewma` read tries in flight and response times; other tables skip
    counting them, and what was counted before is dropped."""
    balancer = Balancer()
    a, _ = pods(2)
    balancer.started(a)  # before the first table: counted
    balancer.prune(snapshot_with(None, Balancing("random")))
    assert not balancer.tracks_load and balancer._active == {}
    balancer.started(a)
    balancer.finished(a, 0.1)
    assert balancer._active == {} and balancer._latency == {}
    for table in (
        snapshot_with(None, Balancing("least_conn")),
        snapshot_with(Balancing("ewma")),
        snapshot_with(None, canary=Balancing("ewma")),
    ):
        balancer.prune(snapshot_with(None))
        balancer.prune(table)
        assert balancer.tracks_load
        balancer.started(a)
        assert balancer._active == {a: 1}
        balancer.finished(a, 0.1)
        assert balancer._active == {} and a in balancer._latency
