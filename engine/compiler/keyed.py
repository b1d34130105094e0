"""Bytewax wiring of keyed, stateful operators (``aggregate``, ``merge_transactions``,
``micro_batch``, ``with_previous``), and the boundary that keeps one bad event from stopping
the flow.

The contract a keyed operator implements, in plain Python (like Bytewax's
``StatefulBatchLogic``, which drives it):

* ``group(batch) -> ([(key, pairs)], dead letters)``: every event of the batch lands in exactly
  one place, a ``(key, event)`` pair or a dead letter (with the reason it has no key);
* ``logic(state)``, the per-key logic: ``add(pairs, now)``, ``due(now)`` (timers) and
  ``flush()`` (end of a bounded input) each return ``(emitted events, dead letters)``;
  ``next_notification()``, ``state()`` (plain, picklable data), ``resume(now)`` (after a
  restore) and ``disposable``.
* An operator never raises for a bad event: it dead-letters the event with the reason and
  leaves its state as if that event had not come (check before changing the state).

Inside the step's nested Bytewax operator: ``group`` splits every batch by key, ``state`` is a
``stateful_batch`` driving one logic per key (timers, end of input, snapshots), and
``ok``/``dead`` re-batch what it emits.

**The boundary** (last resort: a bug, or an input nobody foresaw). A logic call that raises
does not stop the flow; what it guarantees:

* ``group`` raising for a batch: the batch is grouped again one event at a time; only the
  events that raise alone are dead-lettered (``engine/operators/boundary.py``, as for
  stateless steps: ``group`` is pure).
* ``add`` raising: every event of that call is dead-lettered with the step id, the key and a
  one-line reason. Nothing is lost, but the call may have been half applied (a call is not a
  transaction, and copying the state before every call would cost the fast path): the key's
  state may already count part of those events, and the dead letter says so. At worst an
  event is both counted and dead-lettered, never neither. The key then runs *carefully* for
  its next 1000 calls: each call is made on a pickled checkpoint of the state; one that
  raises is rolled back and retried one event at a time (each on its own checkpoint), so only
  the events that raise are dead-lettered and the state is exactly as if they had not come.
* ``due`` / ``flush`` raising: a dead letter with event ``null`` naming the call and the key
  (there is no input event to carry). A failed ``due`` is retried by the timer after 1 s,
  doubling up to 5 min; in careful mode the state is rolled back first, so nothing it was
  emitting is lost; otherwise windows or transactions it had taken out may be.
* ``next_notification`` raising: reported once per back-off, and the timer retries as above.
* restoring a snapshot raising (``pickle``, ``logic(state)``): reported; the key starts from
  an empty state. ``resume`` raising: reported; the key keeps its state and its timers.
* ``snapshot`` raising: reported once (until one succeeds again); the key's snapshot is
  empty, so its state would not survive a restart.

Those dead letters are emitted with the key's next output (a restore failure asks for an
immediate timer). On clean data the boundary costs one ``try`` per call.

A snapshot is the logic's live state pickled on the spot: Bytewax needs an immutable copy,
and one pickle is ~12x cheaper than ``copy.deepcopy`` followed by Bytewax's own pickle (at
2000 tx/s the deep copies of merge_transactions' open transactions ate half the CPU).
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from time import perf_counter
from typing import Callable, List, Optional, Tuple

from bytewax.dataflow import Stream

from engine import clock, lineage
from engine.compiler.steps import StepOut
from engine.connectors.lazy_operators import StatefulBatchLogic, each, op, operator
from engine.lineage import Batch
from engine.metrics import StepCounters
from engine.operators.boundary import debug, guard
from engine.operators.compact_change import as_dict
from engine.operators.dead import describe
from engine.operators.keyed import Events, KeyedStep, KeyLogic, events_of, singles
from engine.records import DeadLetter
from engine.stopping import state_kept
from engine.thread_state import keep_thread_state

_OK, _DEAD, _FAILED = "ok", "dead", "failed"  # _FAILED: (event, call, what went wrong), the key added later
_OKS, _DEADS = "oks", "deads"  # a call's events, its dead letters, as one list each (_Batches)
CAREFUL_CALLS = 1000  # calls made on a checkpoint after a failure
FIRST_RETRY, LAST_RETRY = timedelta(seconds=1), timedelta(minutes=5)


_now = clock.now  # the system clock, or the one a test sets (engine/clock.py)


class _KeyLogic(StatefulBatchLogic):
    """One key's operator logic, driven by Bytewax: batches, timers, end of input, snapshots."""

    def __init__(self, step_id: str, keyed: KeyedStep, state) -> None:
        self.step_id = step_id
        self.keyed = keyed
        self.failures: List[tuple] = []  # of calls that raised, emitted with the next output
        self.careful = 0  # calls left to make on a checkpoint
        self.retry_at: Optional[datetime] = None  # a timer that raised is retried then
        self.delay: Optional[timedelta] = None
        self.snapshot_failed = False
        self.logic: KeyLogic = self._restored(state)

    def _restored(self, state) -> KeyLogic:
        try:
            if isinstance(state, bytes):
                state = pickle.loads(state)  # else a snapshot from before states were pickled here
            logic = self.keyed.logic(state)
        except Exception as exc:  # noqa: BLE001 - the boundary: report, start empty
            self._fail(None, "restoring the state", exc, "the key starts from an empty state")
            return self.keyed.logic(None)
        if state is not None:
            try:
                logic.resume(_now())
            except Exception as exc:  # noqa: BLE001
                self._fail(None, "resume()", exc, "the key keeps its state and timers as snapshotted")
        return logic

    # -- Bytewax callbacks --------------------------------------------------------------
    def on_batch(self, values: List[list]):
        keep_thread_state()  # keyed events may arrive on a worker that reads no source partition
        results: list = []
        deads: list = []
        now = _now()
        if clock.controlled():  # a test moved the clock: timers it passed fire before these events
            clock.busy()
            results, deads = self._overdue(now)
        for pairs in values:
            if self.careful:
                emitted, failed = self._careful_add(pairs, now)
            else:
                try:
                    emitted, failed = self.logic.add(pairs, now)
                except Exception as exc:  # noqa: BLE001 - the boundary: these events, not the flow
                    for event in events_of(pairs):
                        self._fail(event, "add()", exc, "the key's state may hold part of this call's events")
                    self.careful = CAREFUL_CALLS
                    continue
            if failed and type(pairs) in _TRACED:
                batch = getattr(pairs, "batch", None)
                if batch is not None:
                    lineage.trace_dead_letters(failed, batch)
            results += emitted
            deads += failed
        return self._out(results, deads), self._discard()

    def on_notify(self):
        now = _now()
        if self.retry_at is not None and now < self.retry_at:
            return self._out([], []), self._discard()  # only to emit failures; the timer waits
        emitted, failed = self._timer("due()", lambda: self.logic.due(now), now)
        return self._out(emitted, failed), self._discard()

    def on_eof(self):
        if state_kept():  # the process stops, the input has not ended: keep the state for the next start
            return self._out([], []), StatefulBatchLogic.RETAIN
        emitted, failed = self._timer("flush()", self.logic.flush, None)
        return self._out(emitted, failed), self._discard()

    def notify_at(self) -> Optional[datetime]:
        if self.failures:
            return clock.timer(_now())  # failures of a restore: emit them now
        try:
            at = self.logic.next_notification()
        except Exception as exc:  # noqa: BLE001
            now = _now()
            if self.retry_at is None or now >= self.retry_at:
                self._fail(None, "next_notification()", exc, "its timer is retried later")
                self._back_off(now)
            return clock.timer(self.retry_at)
        if at is not None and self.retry_at is not None and at < self.retry_at:
            return clock.timer(self.retry_at)
        return clock.timer(at)

    def _overdue(self, now: datetime) -> Tuple[list, list]:
        """What the key's timer releases when the set clock passed it without a call."""
        try:
            at = self.logic.next_notification()
        except Exception:  # noqa: BLE001 - notify_at reports it
            return [], []
        if at is None or at > now or (self.retry_at is not None and now < self.retry_at):
            return [], []
        return self._timer("due()", lambda: self.logic.due(now), now)

    def snapshot(self) -> Optional[bytes]:
        try:
            data = pickle.dumps(self.logic.state(), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            if not self.snapshot_failed:
                self._fail(None, "snapshot()", exc, "the key's state would not survive a restart")
            self.snapshot_failed = True
            return None
        self.snapshot_failed = False
        return data

    # -- the boundary -------------------------------------------------------------------
    def _timer(self, call: str, run: Callable[[], Tuple[list, list]], now: Optional[datetime]):
        """``due`` or ``flush``: on failure a dead letter naming the call, and a later retry."""
        saved = self._checkpoint() if self.careful else None
        if self.careful:
            self.careful -= 1
        try:
            emitted, failed = run()
        except Exception as exc:  # noqa: BLE001
            if self._rollback(saved):
                consequence = "rolled back; retried later" if now is not None else "rolled back: the state keeps it"
            else:
                consequence = "what it was releasing may be lost"
            self._fail(None, call, exc, consequence)
            self.careful = CAREFUL_CALLS
            if now is not None:
                self._back_off(now)
            return [], []
        self.retry_at = self.delay = None
        return emitted, failed

    def _careful_add(self, pairs: list, now: datetime):
        """``add`` on a checkpoint: a call that raises is undone and retried event by event."""
        self.careful -= 1
        saved = self._checkpoint()
        try:
            return self.logic.add(pairs, now)
        except Exception as exc:  # noqa: BLE001
            self.careful = CAREFUL_CALLS
            if not self._rollback(saved):
                for event in events_of(pairs):
                    self._fail(event, "add()", exc, "the key's state may hold part of this call's events")
                return [], []
            if len(pairs) == 1:
                self._fail(events_of(pairs)[0], "add()", exc, "rolled back")
                return [], []
        results, deads = [], []
        for event, one in singles(pairs):
            saved = self._checkpoint()
            try:
                emitted, failed = self.logic.add(one, now)
            except Exception as exc:  # noqa: BLE001
                undone = self._rollback(saved)
                self._fail(event, "add()", exc, "rolled back" if undone else "the key's state may hold part of it")
                continue
            results += emitted
            deads += failed
        return results, deads

    def _checkpoint(self) -> Optional[bytes]:
        try:
            return pickle.dumps(self.logic.state(), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - no checkpoint: the caller says the state may be half applied
            return None

    def _rollback(self, saved: Optional[bytes]) -> bool:
        """Back to the checkpoint; False when there is none (or it cannot be read back)."""
        if saved is None:
            return False
        try:
            self.logic = self.keyed.logic(pickle.loads(saved))
        except Exception:  # noqa: BLE001
            return False
        return True

    def _fail(self, event, call: str, exc: BaseException, consequence: str) -> None:
        debug(self.step_id)
        self.failures.append((event, call, f"{describe(exc)} ({consequence})"))

    def _back_off(self, now: datetime) -> None:
        self.delay = FIRST_RETRY if self.delay is None else min(2 * self.delay, LAST_RETRY)
        self.retry_at = now + self.delay

    def _out(self, results: list, deads: list) -> list:
        tagged = [(_OK, r) for r in results] + [(_DEAD, d) for d in deads]
        if self.failures:
            tagged += [(_FAILED, f) for f in self.failures]
            self.failures = []
        return tagged

    def _discard(self) -> bool:
        try:
            disposable = self.logic.disposable
        except Exception:  # noqa: BLE001 - keep the state: nothing is lost by retaining it
            return StatefulBatchLogic.RETAIN
        return StatefulBatchLogic.DISCARD if disposable and not self.failures else StatefulBatchLogic.RETAIN


class _Batches(_KeyLogic):
    """keyed_step's boundary: what a call emits leaves the state as one item per kind, ``(oks,
    events)`` and ``(deads, dead letters)``, not an item per event (Bytewax carries each item of
    a stateful step's output on its own, and both branches read every one). Lists of their own:
    a logic may keep the lists it returned."""

    def _out(self, results: list, deads: list) -> list:
        tagged: list = [(_OKS, list(results))] if results else []
        if deads:
            tagged.append((_DEADS, list(deads)))
        if self.failures:
            tagged += [(_FAILED, f) for f in self.failures]
            self.failures = []
        return tagged


@operator
def keyed_step(step_id: str, up: Stream, keyed: KeyedStep, counters: Optional[StepCounters], name: str,
               owned: bool = False) -> StepOut:
    """A keyed stateful step; ``ok`` and ``dead`` carry batches. ``name``: the YAML step id its dead letters
    carry (Bytewax scopes ``step_id`` with the flow's id). ``owned``: no one else holds the input events."""
    grouped = each("group", up, _grouper(name, keyed, counters, traced=True, owned=owned))
    pairs = op.flat_map_batch("keys", grouped, keyed_pairs)
    no_key = op.flat_map_batch("no_key", grouped, key_dead_letters)
    state = op.stateful_batch("state", pairs, lambda resume: _Batches(name, keyed, resume))
    ok = op.flat_map_batch("ok", state, _rebatch_ok(counters))
    dead = op.flat_map_batch("dead", state, _rebatch_dead(name, counters))
    return StepOut(ok, op.merge("dead_letters", dead, no_key))


def keyed_pairs(results: list) -> list:
    """The ``(key, pairs)`` items of a batch of ``group`` results."""
    return [p for r in results for p in r[0]]


def key_dead_letters(results: list) -> list:
    """The dead-letter batches (events ``group`` could not key) of a batch of ``group`` results."""
    return [r[1] for r in results if r[1]]


class _Traced(list):
    """One key's pairs of a batch, with the batch they came from (an ``engine.lineage.Batch``):
    an event the key's state refuses in ``add`` (a late event, an event time that is not one)
    is traced there by identity, so its dead letter carries the event as the source read it and
    its origin, as a stateless step's does. The batch lives exactly as long as the pairs, until
    the state has taken them: keeping batches for later (a deque of the last ones) cost 25% of a
    file flow's throughput, their frees then coming cold."""

    __slots__ = ("batch",)
    batch: Batch


_TRACED = (_Traced, Events)  # Events carry their batch themselves (engine.operators.keyed)


def _traced(groups: list, batch: Optional[Batch]) -> list:
    out: list = []
    for key, pairs in groups:
        if pairs.__class__ is Events:
            pairs.batch = batch
            out.append((key, pairs))
            continue
        if batch is None:
            out.append((key, pairs))
            continue
        traced = _Traced(pairs)
        traced.batch = batch
        out.append((key, traced))
    return out


def _grouper(step_id: str, keyed: KeyedStep, counters: Optional[StepCounters], traced=False, owned=False):
    """``traced``: each key's pairs carry their batch, so what ``add`` refuses is traced (``_Traced``);
    ``owned``: the step's ``group_events_owned`` where it has one."""
    grouping = getattr(keyed, "group_events", keyed.group)
    if owned:
        grouping = getattr(keyed, "group_events_owned", grouping)
    process = guard(step_id, grouping, keep_lineage=False)  # a batch whose grouping raises: one event at a time

    def group(batch: list):
        started = perf_counter()
        pairs, deads = process(batch)
        pairs = _traced(pairs, batch if traced and type(batch) is Batch else None)
        if counters is not None:  # the time of the grouping; the state's work is Bytewax's to time
            counters.add(events_in=len(batch), dead=len(deads), seconds=perf_counter() - started)
        return pairs, deads

    return group


def _rebatch_ok(counters: Optional[StepCounters]):
    def collect(items: list) -> list:  # (_Batches' lists of events)
        values = [event for _, (kind, events) in items if kind == _OKS for event in events]
        if counters is not None and values:
            counters.add(events_out=len(values))
        return [values] if values else []

    return collect


def _rebatch_dead(step_id: str, counters: Optional[StepCounters]):
    def collect(items: list) -> list:  # a _KeyLogic's dead letters one by one, _Batches' as lists
        values: list = []
        for key, (kind, value) in items:
            if kind == _DEADS:
                values += value
            elif kind != _OK and kind != _OKS:
                values.append(value if kind == _DEAD else _failure(step_id, key, value))
        if counters is not None and values:
            counters.add(dead=len(values))
        return [values] if values else []

    return collect


def _failure(step_id: str, key: str, failure: tuple) -> DeadLetter:
    event, call, reason = failure  # (a merge's compact change shown as its dict)
    return DeadLetter(as_dict(event), step_id, f"internal error in {call} for key {key!r}: {reason}")


def build_keyed(step_id: str, up: Stream, keyed: KeyedStep, counters: Optional[StepCounters], owned: bool = False):
    out = keyed_step(step_id, up, keyed, counters, step_id, owned)
    return out.ok, out.dead
