"""Bytewax wiring of ``aggregate``: group each batch by key, then one stateful logic per key.

Inside the step's nested operator: ``group`` splits every batch into ``(key, events)`` pairs
(dead-lettering events without a key), ``state`` is a ``stateful_batch`` whose logic wraps
the operator's :class:`KeyAggregator` (timers for window closes, flush at end of input), and
``ok``/``dead`` re-batch what it emits.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import List, Optional

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from engine.compiler.steps import StepOut
from engine.metrics import StepCounters
from engine.operators.aggregate import Aggregate, KeyState

_OK, _DEAD = "ok", "dead"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _KeyLogic(StatefulBatchLogic):
    """One key's aggregation, driven by Bytewax: batches, timers, end of input, snapshots."""

    def __init__(self, aggregate: Aggregate, state: Optional[KeyState]) -> None:
        self.aggregator = aggregate.aggregator(state)
        if state is not None:  # resumed from a snapshot
            self.aggregator.resume(_now())

    def on_batch(self, values: List[list]):
        results, deads = [], []
        now = _now()
        for pairs in values:
            emitted, failed = self.aggregator.add(pairs, now)
            results += emitted
            deads += failed
        return _tagged(results, deads), self._discard()

    def on_notify(self):
        return _tagged(self.aggregator.due(_now()), []), self._discard()

    def on_eof(self):
        return _tagged(self.aggregator.flush(), []), self._discard()

    def notify_at(self) -> Optional[datetime]:
        return self.aggregator.next_notification()

    def snapshot(self) -> KeyState:
        return self.aggregator.snapshot()

    def _discard(self) -> bool:
        return StatefulBatchLogic.DISCARD if self.aggregator.disposable else StatefulBatchLogic.RETAIN


def _tagged(results: list, deads: list) -> list:
    return [(_OK, r) for r in results] + [(_DEAD, d) for d in deads]


@operator
def aggregate_step(step_id: str, up: Stream, aggregate: object, counters: object) -> StepOut:
    """The stateful ``aggregate`` step; ``ok`` and ``dead`` carry batches."""
    grouped = op.map("group", up, _grouper(aggregate, counters))
    pairs = op.flat_map_batch("keys", grouped, lambda results: [p for r in results for p in r[0]])
    no_key = op.flat_map_batch("no_key", grouped, lambda results: [r[1] for r in results if r[1]])
    state = op.stateful_batch("state", pairs, lambda resume: _KeyLogic(aggregate, resume))
    ok = op.flat_map_batch("ok", state, _rebatch(_OK, counters))
    dead = op.flat_map_batch("dead", state, _rebatch(_DEAD, counters))
    return StepOut(ok, op.merge("dead_letters", dead, no_key))


def _grouper(aggregate: Aggregate, counters: Optional[StepCounters]):
    def group(batch: list):
        pairs, deads = aggregate.group(batch)
        if counters is not None:
            counters.add(events_in=len(batch), dead=len(deads))
        return pairs, deads

    return group


def _rebatch(tag: str, counters: Optional[StepCounters]):
    def collect(items: list) -> list:
        values = [value for _, (kind, value) in items if kind == tag]
        if counters is not None and values:
            counters.add(**({"events_out": len(values)} if tag == _OK else {"dead": len(values)}))
        return [values] if values else []

    return collect


def build_aggregate(step_id: str, up: Stream, aggregate: Aggregate, counters: Optional[StepCounters]):
    out = aggregate_step(step_id, up, aggregate, counters)
    return out.ok, out.dead
