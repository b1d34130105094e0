"""The quick folds of ``aggregate`` (engine/operators/aggregations.py: each argument read once per
event, the float range checked after the loop, ``fold_many`` into a sliding period's windows)
and the window bounds kept between calls (tumbling, sliding) against the reference: the exact
fold, one window at a time, one event at a time, as the windows were first written. Same
results (compared by repr: -0.0, nan, 1 against 1.0), same dead letters with the same reasons,
in the same order, whatever the values (failing, overflowing floats), times (late, out of
order), batching, and with the state pickled and restored between batches."""

import copy
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import accumulate

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_window_properties import ReferenceSessions, ReferenceSliding

from engine.operators.aggregate import Aggregate
from engine.operators.windows import bounds
from engine.operators.windows.session import SessionWindows
from engine.operators.windows.sliding import SlidingWindows
from engine.operators.windows.tumbling import TumblingWindows

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
EAST = timezone(timedelta(hours=2))
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
COMPUTE = {"n": "count()", "nx": "count(x)", "s": "sum(x)", "m": "avg(x)", "lo": "min(x)", "hi": "max(x)",
           "first": "first(x)", "last": "last(x)", "all": "collect(x)", "sy": "sum(y)", "hy": "max(y)"}
values = st.one_of(st.integers(-5, 50), st.just("x"), st.none(), st.just("missing"), st.floats(-1e308, 1e308),
                   st.sampled_from([1e308, -1e308, 1.7e308, 0.0, -0.0, float("nan"), True, Decimal("1.0")]))


def exact_fold(step, accumulator, events):
    """``Aggregate.fold`` as it was: its quick fold was the exact fold."""
    reference = copy.copy(step)
    reference._fold = step._fold_exact
    return Aggregate.fold(reference, accumulator, events)


def step(window=None):
    config = {"key": "k", "compute": COMPUTE}
    if window:
        config["window"] = window
    return Aggregate("agg", config, None)


def event(x, y, **more):
    e = {"k": "a", **more}
    e.update((name, value) for name, value in (("x", x), ("y", y)) if value != "missing")
    return e


@PROPERTY
@given(st.lists(st.tuples(values, values), max_size=12), st.lists(st.tuples(values, values), max_size=12))
def test_the_quick_fold_is_the_exact_fold(before, events):
    agg = step()
    accumulator, _ = exact_fold(agg, agg.fresh(), [event(x, y) for x, y in before])
    batch = [event(x, y) for x, y in events]
    got, got_deads = agg.fold(accumulator, batch)
    want, want_deads = exact_fold(agg, accumulator, batch)
    if not want_deads:  # the quick fold itself gave it, not the one-by-one redo
        assert repr(agg._fold(accumulator, batch)) == repr(want)
    assert repr(got) == repr(want)
    assert [(id(d.event), d.error) for d in got_deads] == [(id(d.event), d.error) for d in want_deads]


@PROPERTY
@given(st.lists(st.lists(st.tuples(values, values), max_size=6), min_size=1, max_size=14))
def test_one_step_folds_batch_after_batch_as_the_exact_fold(batches):
    """The strict fold (fields read as e[name]) while every event has them, the lenient one after
    a batch without (for a few batches), then the strict one again: always the exact fold."""
    agg = step()
    accumulator = want = agg.fresh()
    for pairs in batches:
        batch = [event(x, y) for x, y in pairs]
        accumulator, got_deads = agg.fold(accumulator, batch)
        want, want_deads = exact_fold(agg, want, batch)
        assert repr(accumulator) == repr(want)
        assert [(id(d.event), d.error) for d in got_deads] == [(id(d.event), d.error) for d in want_deads]


@PROPERTY
@given(st.lists(st.lists(st.tuples(values, values), max_size=6), min_size=1, max_size=14),
       st.lists(st.tuples(values, values), max_size=10))
def test_fold_many_is_the_quick_fold_of_each_or_raises_when_one_would(befores, events):
    agg = step()
    accumulators = [exact_fold(agg, agg.fresh(), [event(x, y) for x, y in before])[0] for before in befores]
    batch = [event(x, y) for x, y in events]
    wanted = []
    for accumulator in accumulators:
        try:
            wanted.append(agg._fold_exact(accumulator, batch))
        except Exception:  # noqa: BLE001
            wanted.append(None)
    try:
        got = agg.fold_many(accumulators, batch)
    except Exception:  # noqa: BLE001
        assert None in wanted
        return
    assert repr(got) == repr(wanted)


# -- windows -------------------------------------------------------------------------------
class ReferenceTumbling(TumblingWindows):
    def place(self, moments, events, now):
        groups, deads = {}, []
        for moment, event in zip(moments, events, strict=True):
            closed_before = self.closed_before(now)
            self.advance(moment, now)
            span = bounds.tumbling(moment, self.settings.size)[0]
            if closed_before is not None and span[1] <= closed_before:
                deads.append(self.late(event, moment, span, closed_before))
                continue
            groups.setdefault(span, []).append(event)
        return self.fold_groups(groups, deads)


class LoopSessions(SessionWindows):
    """Every call through the per-event loop (the placement before the calls without one)."""

    def place(self, moments, events, now):
        mark = self.watermark(now) if self.settings.event_time is not None else None
        return self._place_each(moments, events, now, mark, max(self.s.windows, key=lambda w: w[1], default=None))


WINDOWS = [
    (TumblingWindows, ReferenceTumbling, {"tumbling": "5s", "event_time": "t"}),
    (TumblingWindows, ReferenceTumbling, {"tumbling": "4s", "event_time": "t", "allowed_lateness": "3s"}),
    (TumblingWindows, ReferenceTumbling, {"tumbling": "4s", "time": "processing"}),
    (SlidingWindows, ReferenceSliding, {"sliding": {"size": "10s", "every": "5s"}, "event_time": "t"}),
    (SlidingWindows, ReferenceSliding, {"sliding": {"size": "12s", "every": "3s"}, "event_time": "t",
                                        "allowed_lateness": "4s"}),
    (SlidingWindows, ReferenceSliding, {"sliding": {"size": "10s", "every": "3s"}, "event_time": "t"}),
    (SlidingWindows, ReferenceSliding, {"sliding": {"size": "4s", "every": "2s"}, "time": "processing"}),
    (SessionWindows, ReferenceSessions, {"session": {"gap": "5s"}, "event_time": "t"}),
    (SessionWindows, ReferenceSessions, {"session": {"gap": "10s"}, "event_time": "t", "allowed_lateness": "7s"}),
    (SessionWindows, LoopSessions, {"session": {"gap": "5s"}, "event_time": "t"}),
    (SessionWindows, LoopSessions, {"session": {"gap": "10s"}, "event_time": "t", "allowed_lateness": "7s"}),
]


def _run(logic_class, config, batches, advance, restore_at, reference):
    agg = step(config)
    if reference:
        agg.fold = lambda accumulator, events: exact_fold(agg, accumulator, events)
    logic = logic_class(agg)
    now, out = T0, []
    for number, batch in enumerate(batches):
        if number == restore_at:  # a snapshot taken between batches, restored into a new logic
            logic = logic_class(agg, pickle.loads(pickle.dumps(logic.state())))
            logic.resume(now)
        results, deads = logic.add([("a", e) for e in batch], now)
        out.append((results, [(id(d.event), d.error) for d in deads]))
        now += timedelta(seconds=advance)
        results, deads = logic.due(now)
        out.append((results, [(id(d.event), d.error) for d in deads], logic.next_notification()))
    results, deads = logic.flush()
    out.append((results, [(id(d.event), d.error) for d in deads]))
    return repr(out)


@PROPERTY
@example(3, [(0, 1e308, 0, False), (1, 1e308, 0, True), (1, -1e308, 0, False)], [3], 0, -1)  # overflow
@example(3, [(0, 1, 0, False), (1, "x", 0, False), (1, 2, 0, True)], [3], 0, 1)  # min of "x" and ints
@example(9, [(0, 1, 0, False), (0, 1, 0, False), (-3, 1, 0, True), (-12, 1, 0, False)], [1, 2, 1], 0, -1)  # tie
@given(st.sampled_from(range(len(WINDOWS))),
       st.lists(st.tuples(st.integers(-12, 7), values, values, st.booleans()), min_size=1, max_size=30),
       st.lists(st.integers(1, 8), min_size=1, max_size=8), st.integers(0, 6), st.integers(-1, 6))
def test_windows_are_the_one_event_at_a_time_exact_windows(window, steps, cuts, advance, restore_at):
    fast, reference, config = WINDOWS[window]
    second, timed = 0, []
    for step_back, x, y, elsewhere in steps:
        second += step_back + 3
        moment = T0 + timedelta(seconds=second)  # the same instants at another offset: the watermark keeps its own
        # (not against one event at a time for sessions: their bounds are event times, and an event
        # at a session's end instant keeps the session's start in a run, gives its own alone)
        timed.append(event(x, y, t=moment.astimezone(EAST) if elsewhere and reference is not ReferenceSessions
                           else moment))
    ends = list(accumulate(cuts * 10))
    batches = [timed[start:end] for start, end in zip([0, *ends], ends, strict=False) if start < len(timed)]
    assert _run(fast, config, batches, advance, restore_at, False) == \
        _run(reference, config, batches, advance, restore_at, True)


times = st.one_of(st.integers(0, 100).map(lambda s: T0 + timedelta(seconds=s)),
                  st.integers(0, 100).map(lambda s: (T0 + timedelta(seconds=s)).replace(tzinfo=None)),
                  st.sampled_from([None, "2026-11-02", 7, datetime(1, 1, 1, 0, 0, 1, tzinfo=timezone.utc),
                                   datetime(9999, 12, 31, tzinfo=timezone.utc), datetime(9999, 12, 30)]),
                  st.datetimes(timezones=st.just(timezone(timedelta(hours=2)))))


@PROPERTY
@given(st.lists(times, min_size=1, max_size=10))
def test_event_times_read_in_one_loop_are_those_read_one_by_one(moments):
    agg = step({"tumbling": "5s", "event_time": "t"})
    pairs = [("a", {"k": "a", "t": moment}) for moment in moments]
    fast = TumblingWindows(agg)._timed(pairs, T0)
    agg.times = None  # calling it fails: every event time is read one by one
    slow = TumblingWindows(agg)._timed(pairs, T0)
    assert repr(fast[:2]) == repr(slow[:2])
    assert [(id(d.event), d.error) for d in fast[2]] == [(id(d.event), d.error) for d in slow[2]]
