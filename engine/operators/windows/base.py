"""What every window kind of ``aggregate`` shares: the parsed ``window``/``emit`` options and
the per-key base class, which remembers the key's value and builds results.

A kind's logic calls back into the compiled step (``engine.operators.aggregate.Aggregate``)
for the fused ``fresh``/``fold``/``merge``/``result`` functions; it never imports it (the step
imports the kinds to choose one).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, List, Optional, Type

from engine.operators.keyed import KeyLogic, Released


@dataclass
class Settings:
    """The parsed ``window`` and ``emit`` options."""

    kind: Optional[str] = None  # None: one running result per key
    size: Optional[timedelta] = None
    every: Optional[timedelta] = None
    gap: Optional[timedelta] = None
    count: Optional[int] = None
    event_time: Any = None  # compiled expression, or None for processing time
    lateness: timedelta = timedelta(0)
    emit: str = "updates"


@dataclass
class AggregateState:
    """Plain, picklable data (Bytewax snapshots it); each kind adds its own fields."""

    key: Any = None  # the key's value as the key expression gave it


class WindowLogic(KeyLogic):
    """One key of an aggregate: ``add`` notes the key's value, :meth:`take` folds the events."""

    State: ClassVar[Type[AggregateState]] = AggregateState  # each kind's own state

    def __init__(self, step: Any, state: Optional[AggregateState] = None) -> None:
        super().__init__(step, state)
        self.settings: Settings = step.settings

    def add(self, pairs: List[tuple], now: datetime) -> Released:
        if self.s.key is None:
            self.s.key = pairs[0][0]
        return self.take(pairs, now)

    @abstractmethod
    def take(self, pairs: List[tuple], now: datetime) -> Released:
        """Fold the events of the key's ``(key value, event)`` pairs in; return the results due
        now and dead letters."""

    def result(self, accumulator: list, window: Optional[dict] = None) -> dict:
        return self.step.result(self.s.key, accumulator, window)
