"""PostgreSQL's ``'infinity'`` / ``'-infinity'`` dates: ``DATE_INFINITY``, ``DATE_MINUS_INFINITY``.

Tables use them as "valid forever" and "since always". Debezium sends them as the epoch days
of the year -5877611 (``PostgresValueConverter.POSITIVE/NEGATIVE_INFINITY_LOCAL_DATE``, DBZ-5014:
``INFINITE_EPOCH_DAYS``). Python has no infinite date, so, as ``engine.values.InfiniteTimestamp``
does for timestamps, they are ``date.max`` / ``date.min`` in a subclass that says what it is:
they compare and sort as those dates, a duration added or taken leaves them infinite, and their
text is ``infinity`` / ``-infinity`` (``str``, ``isoformat``), which JSON sinks write and
``cast`` to ``date`` reads back (``INFINITE_DATE_WORDS``); the DuckDB sink stores DuckDB's
infinite dates and the PostgreSQL sink PostgreSQL's.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


class Infinite:
    """What PostgreSQL's infinite dates and timestamps share (``InfiniteDate`` here,
    ``engine.values.InfiniteTimestamp``), mixed in before ``date`` / ``datetime``: the largest
    or smallest value of that type, which says what it is. ``_NAMES``: its reprs (minus, plus);
    ``_REBUILT``: the module function pickle calls with ``positive`` (by name: old snapshots keep
    finding it)."""

    __slots__ = ()
    _NAMES: tuple = ("", "")
    _REBUILT: Any = None

    @property
    def positive(self) -> bool:
        return self.year == 9999  # type: ignore[attr-defined]

    def __str__(self) -> str:
        return "infinity" if self.positive else "-infinity"

    def isoformat(self, *args: Any, **kwargs: Any) -> str:  # noqa: ARG002 - the same text whatever asked
        return str(self)

    def __repr__(self) -> str:
        return self._NAMES[self.positive]

    def __reduce_ex__(self, protocol):  # date and datetime define __reduce_ex__, which pickle prefers
        return type(self)._REBUILT, (self.positive,)

    def __add__(self, other):
        return self if isinstance(other, timedelta) else NotImplemented

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, timedelta):
            return self
        return super().__sub__(other)  # type: ignore[misc]  # date's / datetime's: a finite difference


class InfiniteDate(Infinite, date):
    """``DATE_INFINITY`` or ``DATE_MINUS_INFINITY``; nothing else is made of this class."""

    __slots__ = ()
    _NAMES = ("DATE_MINUS_INFINITY", "DATE_INFINITY")


DATE_INFINITY = InfiniteDate(9999, 12, 31)
DATE_MINUS_INFINITY = InfiniteDate(1, 1, 1)
INFINITE_DATE_WORDS = {"infinity": DATE_INFINITY, "+infinity": DATE_INFINITY, "-infinity": DATE_MINUS_INFINITY}
INFINITE_EPOCH_DAYS = {-2147472692: DATE_INFINITY, -2147472691: DATE_MINUS_INFINITY}


def _infinite_date(positive: bool) -> InfiniteDate:
    return DATE_INFINITY if positive else DATE_MINUS_INFINITY


InfiniteDate._REBUILT = _infinite_date
