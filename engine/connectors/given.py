"""A source of raw batches given in advance (``velocity-flow replay`` re-feeds dead letters
through it): the batches go, in order, to the source's decode step as if read from the
declared connector. Bounded; honours a clean stop."""

from __future__ import annotations

from typing import List, Optional

from bytewax.inputs import DynamicSource, StatelessSourcePartition

from engine.metrics import StepCounters
from engine.records import RawBatch
from engine.stopping import stop_requested


class _Giving(StatelessSourcePartition[RawBatch]):
    def __init__(self, owner: "GivenSource", batches: List[RawBatch], metrics: Optional[StepCounters]) -> None:
        self._owner, self._batches = owner, batches
        self._metrics = metrics

    def next_batch(self) -> List[RawBatch]:
        if stop_requested() or self._owner.given >= len(self._batches):
            raise StopIteration()
        batch = self._batches[self._owner.given]  # by index: pop(0) was quadratic in the batches
        self._owner.given += 1
        if self._metrics is not None:
            self._metrics.add(events_out=len(batch.values))
        return [batch]


class GivenSource(DynamicSource[RawBatch]):
    """``batches`` on worker 0 (one order); the other workers read nothing. ``given``: how many
    went to the flow (after a clean stop, the rest were never fed)."""

    def __init__(self, batches: List[RawBatch], metrics: Optional[StepCounters] = None) -> None:
        self.batches = batches
        self._metrics = metrics
        self.given = 0

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Giving:
        return _Giving(self, self.batches if worker_index == 0 else [], self._metrics)
