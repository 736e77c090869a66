"""The collector policy of gateway.heap: what `settle` freezes and when frozen garbage goes."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway import heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> tuple[_Node, weakref.ref[_Node]]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


@pytest.fixture(autouse=True)
def _restore_the_collector() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


def test_settle_collects_then_freezes_what_is_alive() -> None:
    garbage = _cycle()[1]  # unreachable already
    alive = _Node()
    heap.settle()
    assert garbage() is None
    assert gc.get_freeze_count() > 0 and not any(o is alive for o in gc.get_objects())


def test_cyclic_garbage_among_frozen_objects_waits_for_the_next_settle() -> None:
    alive, ref = _cycle()
    heap.settle()
    del alive  # now garbage, but frozen: a full collection skips it
    gc.collect()
    assert ref() is not None
    heap.settle()
    assert ref() is None


def test_objects_made_after_a_settle_are_collected_as_usual() -> None:
    heap.settle()
    ref = _cycle()[1]
    gc.collect()
    assert ref() is None


def test_paused_holds_automatic_collections_and_nests() -> None:
    assert gc.isenabled()
    with heap.paused():
        assert not gc.isenabled()
        with heap.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()


def test_paused_leaves_a_collector_disabled_elsewhere_disabled() -> None:
    gc.disable()
    with heap.paused():
        pass
    assert not gc.isenabled()


def test_paused_reenables_after_an_exception() -> None:
    with pytest.raises(RuntimeError), heap.paused():
        raise RuntimeError
    assert gc.isenabled()
