"""Frozen records made without ``dataclasses``: creating a dataclass costs ~0.5 ms at import
(the code of its methods is generated and compiled), and every command imports the records of
the expressions and the topology definitions.

A subclass lists its fields in ``__slots__`` (after its base's) and sets them in its own
``__init__`` with ``init(self, name, value)`` or
``set_fields(self, *values)``; it behaves as ``@dataclass(frozen=True)`` did:
equal when of the same class with equal fields, hashed by its fields, ``Name(field=value, ...)``
as repr, assigning or deleting a field raises ``dataclasses.FrozenInstanceError``, copy and
pickle make it again from its fields. It has no ``dataclasses.fields``, ``replace`` or
``asdict``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Tuple

init = object.__setattr__  # how a record's __init__ sets its fields


def set_fields(record: "Frozen", *values: Any) -> None:
    """Set every field of ``record``, in the order of its ``__slots__`` (its base's first)."""
    for name, value in zip(record._fields, values, strict=True):
        init(record, name, value)


class Frozen:
    __slots__ = ()
    _fields: ClassVar[Tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = cls._fields + tuple(cls.__dict__.get("__slots__", ()))

    def _values(self) -> Tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        from dataclasses import FrozenInstanceError  # at the mistake: dataclasses costs ~8M instructions to import
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return self.__class__, self._values()
