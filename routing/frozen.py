"""`Frozen`: the base of the routing model's frozen dataclasses, so that they pickle compiled.

The route model, the matcher and the global settings are read for every request, so they are
compiled with the proxy (`gateway.compiled.hot_path`): a compiled proxy then reads their fields
as struct members instead of through Python's generic attribute lookup. Snapshots are pickled
to worker processes (`gateway.workers`), and here the two forms differ. Interpreted, a frozen
slotted dataclass gets pickling from `dataclasses`, which adds methods of its own that shadow
this base's. Compiled, mypyc would give every class a `__setstate__` that assigns each field,
which a frozen dataclass refuses; this base's methods pickle the field values in declaration
order and restore them past the frozen guard.
"""

from __future__ import annotations

from dataclasses import fields

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """Every field of a dataclass, `init=False` ones included, once per class."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class Frozen:
    """Pickling for a compiled frozen dataclass: its state is its field values. (Interpreted,
    `dataclasses` replaces these methods with its own, which do the same.)"""

    __slots__ = ()

    def __getstate__(self) -> tuple[object, ...]:
        return tuple([getattr(self, name) for name in _field_names(type(self))])

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for name, value in zip(_field_names(type(self)), state, strict=True):
            object.__setattr__(self, name, value)
