"""The hot path's bounded caches on their own."""

from __future__ import annotations

from gateway.proxy.caches import PerTarget, remember


def test_remember_empties_a_full_cache_before_adding() -> None:
    cache: dict[int, int] = {}
    for key in range(10):
        remember(cache, key, key * 2, 4)
        assert 0 < len(cache) <= 4 and cache[key] == key * 2
    assert cache == {8: 16, 9: 18}


def test_per_target_values_are_found_by_identity_within_one_snapshot() -> None:
    cache: PerTarget[str] = PerTarget()
    first, second, equal_to_first = ["a"], ["b"], ["a"]
    snapshot = object()
    assert cache.get(snapshot, first) is None
    assert cache.add(first, "first") == "first"
    assert cache.get(snapshot, first) == "first"
    assert cache.get(snapshot, equal_to_first) is None  # equal is not the same target
    cache.add(second, "second")
    assert (cache.get(snapshot, first), cache.get(snapshot, second)) == ("first", "second")
    assert cache.get(object(), first) is None  # a new snapshot starts empty
    assert cache.get(snapshot, second) is None  # ...and the old one's values are gone
