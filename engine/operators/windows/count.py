"""Count windows: every ``count`` events of a key (dead letters not counted) make a window,
numbered from 0 by ``window_index``; a bounded input's end releases the partial last one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from engine.operators.keyed import Released
from engine.operators.windows.base import AggregateState, WindowLogic


@dataclass
class CountState(AggregateState):
    running: Optional[list] = None  # accumulator of the open window
    seen: int = 0  # events counted into the open window
    count_index: int = 0


class CountWindows(WindowLogic):
    State = CountState

    def take(self, pairs: list, now: datetime) -> Released:
        events = [event for _, event in pairs]
        results, deads, size = [], [], self.settings.count
        while events:
            take = size - self.s.seen
            chunk, events = events[:take], events[take:]
            accumulator = self.s.running if self.s.running is not None else self.step.fresh()
            self.s.running, failed = self.step.fold(accumulator, chunk)
            deads += failed
            self.s.seen += len(chunk) - len(failed)
            if self.s.seen >= size:
                results.append(self._close())
        return results, deads

    def flush(self) -> Released:
        return ([self._close()] if self.s.seen else []), []

    def _close(self) -> dict:
        result = self.result(self.s.running, {"window_index": self.s.count_index})
        self.s.running, self.s.seen = None, 0
        self.s.count_index += 1
        return result
