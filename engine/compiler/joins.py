"""Bytewax wiring of the two-input keyed steps, the joins (engine/operators/joins/): a
stream-table ``join`` and an ``interval_join``.

Each input is grouped by its own function (``group`` for ``from``, ``group_side`` for the input
the operator's ``side`` option names: a join's table changes, an interval join's other stream),
the pairs of both are merged and drive one keyed logic per key through the same boundary as
every keyed step (engine/compiler/keyed.py): both sides of a key meet on one worker, and the
key's state is snapshotted and restored with the flow's recovery.
"""

from __future__ import annotations

from typing import List, Optional

from bytewax.dataflow import Stream

from engine import clock
from engine.compiler.keyed import _OK, CAREFUL_CALLS, _grouper, _KeyLogic, _rebatch_dead, key_dead_letters, keyed_pairs
from engine.compiler.steps import StepOut
from engine.connectors.lazy_operators import StatefulBatchLogic, each, op, operator
from engine.metrics import StepCounters
from engine.operators.joins.base import TwoInputStep
from engine.operators.joins.stream_table import StreamTableJoin
from engine.stopping import state_kept
from engine.thread_state import keep_thread_state

DISCARD, RETAIN = StatefulBatchLogic.DISCARD, StatefulBatchLogic.RETAIN


class _JoinKey(_KeyLogic):
    """The keyed boundary of engine/compiler/keyed.py with a fast path for the stream-table join,
    whose keys are many and mostly see one event per call. While the key is not careful (no call
    of it has raised): the clock is read only when an event is held (``now`` None); the timer needs no
    guard (the earliest held event's deadline, or none); the end of input flushes without a
    checkpoint; a call that emitted only events hands them on untagged (one tuple less per
    event); a snapshot is a shallow copy of the state as a tuple (rows and events are never
    changed in place; Bytewax pickles it only for a recovery store, where the generic boundary
    pickles every snapshot). It reads the state (``Joined``) for ``disposable`` and the timer
    rather than calling the logic: two calls less per key and batch. A call that raises is
    handled as the generic boundary does."""

    def on_batch(self, values: List[list]):
        keep_thread_state()  # (engine/thread_state.py; keyed.py's on_batch says why here)
        if self.careful or clock.controlled():  # a test's clock: the generic path, its overdue timers first
            return super().on_batch(values)
        add = self.logic.add
        results: list = []
        for index, pairs in enumerate(values):
            try:
                emitted, _ = add(pairs, None)  # type: ignore[arg-type]  # the logic reads the clock if it holds
            except Exception as exc:  # noqa: BLE001 - as the boundary does: these events, then carefully
                for _, event in pairs:
                    self._fail(event, "add()", exc, "the key's state may hold part of this call's events")
                self.careful = CAREFUL_CALLS
                rest, discard = super().on_batch(values[index + 1:])
                return self._out(results, []) + rest, discard
            results += emitted
        state = self.logic.s  # type: ignore[attr-defined]  # a Joined: its disposable, without the calls
        return self._out(results, []), DISCARD if not state.present and not state.held else RETAIN

    def on_eof(self):
        if self.careful or self.failures or state_kept():
            return super().on_eof()
        try:
            emitted, _ = self.logic.flush()
        except Exception as exc:  # noqa: BLE001 - as the boundary does
            self._fail(None, "flush()", exc, "what it was releasing may be lost")
            self.careful = CAREFUL_CALLS
            return self._out([], []), self._discard()
        return self._out(emitted, []), self._discard()

    def notify_at(self):
        if self.failures or self.retry_at is not None or clock.controlled():
            return super().notify_at()
        if self.keyed.wait is None:  # type: ignore[attr-defined]
            return None  # nothing is ever held: no timer
        held = self.logic.s.held  # type: ignore[attr-defined]  # TableRow.next_notification(), inlined
        return held[0][0] if held else None

    def _out(self, results: list, deads: list) -> list:
        if deads or self.failures:
            return super()._out(results, deads)
        return results  # the common case: events only, untagged (``_split`` tells them apart)

    def snapshot(self):
        try:
            return self.logic.state().copy()
        except Exception:  # noqa: BLE001 - the generic snapshot reports it
            return super().snapshot()


class _Side:
    """One input's grouping, in the shape ``_grouper`` takes (an object with ``group``)."""

    def __init__(self, group) -> None:
        self.group = group


def _split(name: str, counters: Optional[StepCounters]):
    """What a join's state emitted, in one pass: ``(True, events)`` and ``(False, dead letters)``
    per batch. Events are untagged dicts, or ``(ok, event)`` beside dead letters; the stream of
    single items is read once, the two branches then see one item per batch."""
    letters = _rebatch_dead(name, counters)

    def collect(items: list) -> list:
        events = [v if type(v) is dict else v[1] for _, v in items if type(v) is dict or v[0] == _OK]
        out: list = [(True, events)] if events else []
        if counters is not None and events:
            counters.add(events_out=len(events))
        if len(events) < len(items):
            out += [(False, batch) for batch in letters([item for item in items if type(item[1]) is not dict])]
        return out

    return collect


def _ok(split: list) -> list:
    return [batch for is_ok, batch in split if is_ok]


def _dead(split: list) -> list:
    return [batch for is_ok, batch in split if not is_ok]


@operator
def join_step(step_id: str, up: Stream, side: Stream, join: TwoInputStep, counters: Optional[StepCounters],
              name: str) -> StepOut:
    """``up`` (``from``) joined with ``side`` (a table, another stream); ``ok`` and ``dead`` carry batches."""
    events = each("group_events", up, _grouper(name, join, counters, traced=not isinstance(join, StreamTableJoin)))
    changes = each("group_table", side, _grouper(name, _Side(join.group_side), counters))  # type: ignore[arg-type]
    grouped = op.merge("sides", events, changes)
    pairs = op.flat_map_batch("keys", grouped, keyed_pairs)
    no_key = op.flat_map_batch("no_key", grouped, key_dead_letters)
    logic = _JoinKey if isinstance(join, StreamTableJoin) else _KeyLogic
    state = op.stateful_batch("state", pairs, lambda resume: logic(name, join, resume))
    split = op.flat_map_batch("split", state, _split(name, counters))
    ok = op.flat_map_batch("ok", split, _ok)
    dead = op.flat_map_batch("dead", split, _dead)
    return StepOut(ok, op.merge("dead_letters", dead, no_key))


def build_join(step_id: str, up: Stream, side: Stream, join: TwoInputStep, counters: Optional[StepCounters]):
    out = join_step(step_id, up, side, join, counters, step_id)
    return out.ok, out.dead
