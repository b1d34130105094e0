"""No window: one running result per key, emitted after each batch (``emit: updates``) or
once at the end of a bounded input (``emit: final``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from engine.operators.keyed import Released
from engine.operators.windows.base import AggregateState, WindowLogic


@dataclass
class RunningState(AggregateState):
    running: Optional[list] = None  # the accumulator; None until the first event


class Running(WindowLogic):
    State = RunningState

    def take(self, pairs: list, now: datetime) -> Released:
        return self.fold_events([event for _, event in pairs])

    def fold_events(self, events: list) -> Released:
        """Fold a key's ``events`` into its running accumulator (the updates emit it)."""
        accumulator = self.s.running if self.s.running is not None else self.step.fresh()
        accumulator, deads = self.step.fold(accumulator, events)
        if self.s.running is None and len(deads) == len(events):  # no event of the key folded yet: no result
            return [], deads
        self.s.running = accumulator
        if self.settings.emit == "updates":
            return [self.result(self.s.running)], deads
        return [], deads

    def flush(self) -> Released:
        if self.settings.emit == "final" and self.s.running is not None:
            return [self.result(self.s.running)], []
        return [], []
