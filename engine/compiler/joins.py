"""Bytewax wiring of a stream-table join (engine/operators/joins/stream_table.py).

Each input is grouped by its own function (events by ``on``, table changes by ``table_key``),
the pairs of both are merged and drive one keyed logic per key through the same boundary as
every keyed step (engine/compiler/keyed.py): both sides of a key meet on one worker, and the
key's row and held events are snapshotted and restored with the flow's recovery.
"""

from __future__ import annotations

from typing import Optional

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from engine.compiler.keyed import _grouper, _KeyLogic, _rebatch_dead, _rebatch_ok
from engine.compiler.steps import StepOut
from engine.metrics import StepCounters
from engine.operators.joins.stream_table import StreamTableJoin


class _Side:
    """One input's grouping, in the shape ``_grouper`` takes (an object with ``group``)."""

    def __init__(self, group) -> None:
        self.group = group


def _pairs(results: list) -> list:
    return [p for r in results for p in r[0]]


def _no_key(results: list) -> list:
    return [r[1] for r in results if r[1]]


@operator
def join_step(step_id: str, up: Stream, table: Stream, join: StreamTableJoin, counters: Optional[StepCounters],
              name: str) -> StepOut:
    """``up`` (the events) enriched from ``table`` (the changelog); ``ok`` and ``dead`` carry batches."""
    events = op.map("group_events", up, _grouper(name, _Side(join.group_events), counters))  # type: ignore[arg-type]
    changes = op.map("group_table", table, _grouper(name, _Side(join.group_table), counters))  # type: ignore[arg-type]
    grouped = op.merge("sides", events, changes)
    pairs = op.flat_map_batch("keys", grouped, _pairs)
    no_key = op.flat_map_batch("no_key", grouped, _no_key)
    state = op.stateful_batch("state", pairs, lambda resume: _KeyLogic(name, join, resume))
    ok = op.flat_map_batch("ok", state, _rebatch_ok(counters))
    dead = op.flat_map_batch("dead", state, _rebatch_dead(name, counters))
    return StepOut(ok, op.merge("dead_letters", dead, no_key))


def build_join(step_id: str, up: Stream, table: Stream, join: StreamTableJoin, counters: Optional[StepCounters]):
    out = join_step(step_id, up, table, join, counters, step_id)
    return out.ok, out.dead
