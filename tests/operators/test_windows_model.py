"""``aggregate`` against a plain-Python model of docs/aggregate.md, written from the docs and not
from the code: per key, the watermark is the largest event time less the lateness, advanced by
the system time since that event arrived (a downtime does not count); an event whose windows
all closed before it is late (a dead letter); an event whose argument fails is a dead letter
and opens, extends or counts in no window; a window is emitted once, when the watermark reaches
its end (a session: its last event plus the gap), and every open window at the end of the input.
The model keeps each window's values and computes the aggregates with exact arithmetic.

Inputs the windows' own tests do not try: times on window bounds, equal times, naive and offset
times, big steps (sessions merging when a bridging event arrives late), 20-digit integers and
Decimals with more digits than the default decimal context, strings, booleans and NaN among
numbers, a snapshot pickled and restored after a downtime, the flush at the end."""

import math
import pickle
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from itertools import accumulate

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.operators.aggregate import Aggregate
from engine.operators.micro_batch import MicroBatch

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)  # a multiple of every window size below
EAST = timezone(timedelta(hours=2))
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
COMPUTE = {"s": "sum(x)", "n": "count()", "nx": "count(x)", "lo": "min(x)", "hi": "max(x)", "m": "avg(x)",
           "f": "first(x)", "l": "last(x)", "all": "collect(x)"}
WINDOWS = [
    {"tumbling": "5s", "event_time": "t"},
    {"tumbling": "5s", "event_time": "t", "allowed_lateness": "3s"},
    {"sliding": {"size": "10s", "every": "5s"}, "event_time": "t"},
    {"sliding": {"size": "10s", "every": "4s"}, "event_time": "t", "allowed_lateness": "2s"},
    {"session": {"gap": "5s"}, "event_time": "t"},
    {"session": {"gap": "10s"}, "event_time": "t", "allowed_lateness": "4s"},
    {"tumbling": "4s", "time": "processing"},
    {"count": 3},
    None,  # a running aggregate, emit: updates
]
BIG = 12345678901234567890
# each example takes its numbers from one family (a Decimal and a float cannot be added)
FAMILIES = [st.integers(-5, 50) | st.sampled_from([BIG, -BIG, 10 ** 20 + 1]),
            st.sampled_from([Decimal("12345678901234567890.1234567891"), Decimal("1E-20"), Decimal("-0.5"),
                             Decimal("99999999999999999999999999999"), 3, BIG]),
            st.floats(-1e6, 1e6) | st.integers(-5, 5)]
ODD = st.sampled_from([None, "missing", "7", True, False, float("nan")])  # null/absent, or a failing argument


def fails(x) -> bool:
    """sum() takes int, float, Decimal: a string or a boolean fails it; NaN makes it not finite."""
    return x is not None and x != "missing" and (type(x) not in (int, float, Decimal) or x != x)


def exact(values):
    return sum((Fraction(v) for v in values), Fraction(0))


def check_result(result, values, ordered):
    """One window's result against its folded values (``ordered``: first/last/collect in arrival order)."""
    present = [v for v in values if v is not None and v != "missing"]
    assert result["n"] == len(values) and result["nx"] == len(present)
    if not present:
        assert result["s"] is result["m"] is result["lo"] is result["hi"] is None and result["all"] == []
        return
    assert Fraction(result["s"]) == exact(present) or (
        float in map(type, present) and math.isclose(result["s"], float(exact(present)), abs_tol=1e-6))
    assert math.isclose(float(result["m"]), float(exact(present) / len(present)), rel_tol=1e-9, abs_tol=1e-9)
    assert result["lo"] == min(present) and result["hi"] == max(present)
    if ordered:
        assert (result["f"], result["l"], result["all"]) == (present[0], present[-1], present)
    else:
        assert sorted(result["all"]) == sorted(present) and result["f"] in present and result["l"] in present


class Model:
    """The documented behaviour of one key, one event at a time."""

    def __init__(self, window):
        self.window = window or {}
        self.kind = next((k for k in ("tumbling", "sliding", "session", "count") if k in self.window), None)
        self.event_time = "event_time" in self.window
        self.lateness = int(self.window.get("allowed_lateness", "0s")[:-1])
        self.marks = []  # (event time - lateness, arrival time) of each event taken
        self.open = {}  # (start, end) -> values; sessions: (first, last) -> values
        self.folded, self.index = [], 0

    def watermark(self, now):
        if not self.event_time:
            return now
        return max((mark + now - arrived for mark, arrived in self.marks), default=None)

    def spans(self, t):
        if self.kind == "tumbling":
            size = int(self.window["tumbling"][:-1])
            return [(t // size * size, t // size * size + size)]
        size, every = (int(self.window["sliding"][name][:-1]) for name in ("size", "every"))
        start = t // every * every
        return [(s, s + size) for s in range(start - (size - 1) // every * every, start + 1, every) if s + size > t]

    def add(self, batch, now):
        """``batch``: (event, t, x); what the step must dead-letter: {id(event): 'late' or 'fails'}."""
        deads = {}
        for event, t, x in batch:
            t = t if self.event_time else now
            mark = self.watermark(now) if self.kind not in ("count", None) else None
            if self.event_time:
                self.marks.append((t - self.lateness, now))
            if self.kind == "session":
                gap = int(self.window["session"]["gap"][:-1])
                joined = [s for s in self.open if s[0] - gap < t < s[1] + gap and (mark is None or s[1] + gap > mark)]
                if not joined and mark is not None and t + gap <= mark:
                    deads[id(event)] = "late"
                elif fails(x):
                    deads[id(event)] = "fails"
                else:
                    values = [x]
                    for s in joined:
                        values += self.open.pop(s)
                    self.open[(min([t] + [s[0] for s in joined]), max([t] + [s[1] for s in joined]))] = values
            elif self.kind in ("tumbling", "sliding"):
                spans = [s for s in self.spans(t) if mark is None or s[1] > mark]
                if not spans:
                    deads[id(event)] = "late"
                elif fails(x):
                    deads[id(event)] = "fails"
                for span in spans if id(event) not in deads else ():
                    self.open.setdefault(span, []).append(x)
            elif fails(x):
                deads[id(event)] = "fails"
            else:
                self.folded.append(x)
        return deads

    def due(self, now, end=False):
        """What closes now: [(window, values)] oldest first."""
        if self.kind is None:
            return [(None, list(self.folded))] if self.folded and not end else []
        if self.kind == "count":
            size = int(self.window["count"])
            out = []
            while len(self.folded) >= size or (end and self.folded):
                out.append(((self.index,), self.folded[:size]))
                self.folded, self.index = self.folded[size:], self.index + 1
            return out
        mark = None if end else self.watermark(now)
        delay = int(self.window["session"]["gap"][:-1]) if self.kind == "session" else 0
        closed = sorted(s for s in self.open if end or (mark is not None and s[1] + delay <= mark))
        return [(s, self.open.pop(s)) for s in closed]


def check_released(model, released, closed):
    results, _ = released
    assert len(results) == len(closed), (results, closed)
    for result, (span, values) in zip(results, closed, strict=True):
        if model.kind == "count":
            assert result["window_index"] == span[0]
        elif span is not None:
            for name, second in zip(("window_start", "window_end"), span, strict=True):
                assert result[name] == T0 + timedelta(seconds=second) and result[name].utcoffset() == timedelta(0)
        check_result(result, values, model.kind != "session")


def check_deads(released, want):
    got = {id(d.event): d.error for d in released[1]}
    assert got.keys() == want.keys(), (released[1], want)
    for key, reason in got.items():
        assert reason.startswith("late event:") == (want[key] == "late"), reason


def moment(second, zone):
    t = T0 + timedelta(seconds=second)
    return t if zone == 0 else t.astimezone(EAST) if zone == 1 else t.replace(tzinfo=None)


# seconds since the event before (on window bounds, equal, back, far), the value, the zone
STEPS = st.sampled_from(FAMILIES).flatmap(lambda family: st.lists(st.tuples(
    st.sampled_from([0, 0, 1, 4, 5, -5, -9, 15, 40]) | st.integers(-20, 20), family | ODD, st.integers(0, 2)),
    min_size=1, max_size=25))


@PROPERTY
@example(0, [(0, Decimal("12345678901234567890.1234567891"), 0), (1, Decimal("1.0000000001"), 0)], [2], 0, -1, 0)
@example(0, [(1, "7", 0)], [1], 0, -1, 0)  # a window whose only event failed
@example(8, [(0, "7", 0)], [1], 0, -1, 0)
@example(2, [(1, 1, 0), (7, "7", 0)], [1], 0, -1, 0)  # an event failing in one of its windows only
@example(4, [(0, 1, 1)], [1], 0, -1, 0)  # a session of an event at +02:00
@example(4, [(0, 1, 0), (12, 2, 0), (-6, 3, 0)], [1], 0, -1, 0)  # a late event bridges two sessions
@given(st.sampled_from(range(len(WINDOWS))), STEPS, st.lists(st.integers(1, 6), min_size=1, max_size=6),
       st.integers(0, 6), st.integers(-1, 5), st.sampled_from([0, 3, 3600]))
def test_aggregate_is_the_documented_model(window, steps, cuts, advance, restore_at, downtime):
    _run(window, steps, cuts, advance, restore_at, downtime)


def _run(window, steps, cuts, advance, restore_at, downtime):
    config = WINDOWS[window]
    agg = Aggregate("agg", {"key": "k", "compute": COMPUTE, **({"window": config} if config else {})}, None)
    timed, second = [], 0
    for step, x, zone in steps:
        second += step
        event = {"k": "a", "t": moment(second, zone)}
        if x != "missing":
            event["x"] = x
        timed.append((event, second, x))
    ends = list(accumulate(cuts * 25))
    batches = [timed[start:end] for start, end in zip([0, *ends], ends, strict=False) if start < len(timed)]
    model, logic, now, down = Model(config), agg.logic(), 0, 0
    for number, batch in enumerate(batches):
        if number == restore_at:  # a snapshot, as Bytewax pickles it, restored after a downtime
            logic = agg.logic(pickle.loads(pickle.dumps(logic.state())))
            down += downtime
            logic.resume(T0 + timedelta(seconds=now + down))
        want = model.add(batch, now if model.event_time else now + down)
        released = logic.add([("a", event) for event, _, _ in batch], T0 + timedelta(seconds=now + down))
        check_deads(released, want)
        check_released(model, released, model.due(now if model.event_time else now + down))
        now += advance
        released = logic.due(T0 + timedelta(seconds=now + down))
        check_deads(released, {})
        if model.kind is not None:
            check_released(model, released, model.due(now if model.event_time else now + down))
    released = logic.flush()
    check_deads(released, {})
    check_released(model, released, model.due(None, end=True))


# -- an event of several sliding windows: folded into all of them, or dead-lettered and in none --
@PROPERTY
@example([1, "a"], [2], 5)  # "a" is in [-5, 5), with 1 (fails), and in [0, 10) alone (folded, before the fix)
@given(st.lists(st.integers(0, 9) | st.sampled_from(["a", "b"]), min_size=1, max_size=20),
       st.lists(st.integers(1, 5), min_size=1, max_size=5), st.sampled_from([4, 5]))
def test_an_event_failing_in_one_of_its_sliding_windows_is_in_none(values, cuts, every):
    """min() of a text and a number fails only in a window that already holds the other kind."""
    window = {"sliding": {"size": "10s", "every": f"{every}s"}, "event_time": "t"}
    agg = Aggregate("agg", {"key": "k", "compute": {"n": "count()", "lo": "min(x)", "all": "collect(x)"},
                            "window": window}, None)
    model = Model(window)
    events = [({"k": "a", "t": T0 + timedelta(seconds=second), "x": x}, second, x) for second, x in enumerate(values)]
    logic, dead, windows, results = agg.logic(), set(), {}, []
    ends = list(accumulate(cuts * 20))
    for batch in [events[start:end] for start, end in zip([0, *ends], ends, strict=False) if start < len(events)]:
        emitted, deads = logic.add([("a", event) for event, _, _ in batch], T0)
        results += emitted
        dead |= {id(d.event) for d in deads}
        for event, second, x in batch:  # in time order: never late
            spans = model.spans(second)
            kinds = {type(v) for span in spans for v in windows.get(span, [])}
            if kinds - {type(x)}:  # the model: it fails if one of its windows holds the other kind
                assert id(event) in dead
            else:
                assert id(event) not in dead
                for span in spans:
                    windows.setdefault(span, []).append(x)
    results += logic.flush()[0]
    assert {(r["window_start"], r["window_end"]): r["all"] for r in results} == {
        (T0 + timedelta(seconds=a), T0 + timedelta(seconds=b)): values for (a, b), values in windows.items()}


@PROPERTY
@given(st.permutations([1.5, float("nan"), -2.0, float("nan"), 7.25, Decimal("NaN"), 3]))
def test_min_and_max_dead_letter_nan_whatever_the_order(values):
    agg = Aggregate("agg", {"key": "k", "compute": {"lo": "min(x)", "hi": "max(x)"}, "emit": "final"}, None)
    logic = agg.logic()
    events = [{"k": "a", "x": x} for x in values]
    _, deads = logic.add([("a", event) for event in events], T0)
    (result,), _ = logic.flush()
    assert (result["lo"], result["hi"]) == (-2.0, 7.25)
    assert [d.event["x"] for d in deads] == [x for x in values if x != x]
    assert all("not a number" in d.error for d in deads)


@PROPERTY
@given(st.lists(st.decimals(allow_nan=False, allow_infinity=False, places=12, min_value=-10 ** 30,
                            max_value=10 ** 30) | st.integers(-10 ** 25, 10 ** 25), min_size=1, max_size=12),
       st.sampled_from([None, {"session": {"gap": "5s"}, "event_time": "t", "allowed_lateness": "1h"}]),
       st.randoms(use_true_random=False))
def test_sums_of_decimals_are_exact_in_a_running_total_and_merged_sessions(values, window, random):
    """40-digit Decimals (decimal(38,...) holds them) beyond the default context's 28 digits; the
    events of a session arrive in a shuffled order, so its parts merge."""
    config = {"key": "k", "compute": {"s": "sum(x)", "m": "avg(x)"}, "emit": "final"}
    agg = Aggregate("agg", {**config, **({"window": window} if window else {})}, {"k": "str", "x": "decimal(50,12)",
                                                                                  "t": "timestamp"})
    events = [{"k": "a", "x": Decimal(x), "t": T0 + timedelta(seconds=3 * n)} for n, x in enumerate(values)]
    random.shuffle(events)
    logic = agg.logic()
    _, deads = logic.add([("a", event) for event in events], T0)
    (result,), _ = logic.flush()
    assert deads == [] and Fraction(result["s"]) == exact(values)
    mean = exact(values) / len(values)  # a Decimal (28 digits) or, of integers only, a float
    assert abs(Fraction(result["m"]) - mean) <= abs(mean) / 10 ** 15 + Fraction(1, 10 ** 15)


class NoOffset(tzinfo):
    """A tzinfo that gives no offset: Python compares such a time as naive."""

    def utcoffset(self, moment):
        return None

    def dst(self, moment):
        return None


class Stamp(datetime):
    """A datetime subclass, as some libraries give (pandas, pendulum)."""


@pytest.mark.parametrize("odd", [datetime(2026, 11, 2, 6, 0, 3, tzinfo=NoOffset()), Stamp(2026, 11, 2, 6, 0, 3)])
@pytest.mark.parametrize("window", [WINDOWS[0], WINDOWS[4]])
def test_odd_event_times_are_read_the_same_in_any_batch_and_never_raise(odd, window):
    """Alone, the batch's quick read takes the time; beside a null time, each is read alone: the
    same windows either way (a tzinfo without offset is naive: UTC), and no exception."""
    agg = Aggregate("agg", {"key": "k", "compute": {"n": "count()"}, "window": window}, None)
    outs = []
    for extra in ([], [{"k": "a", "t": None}]):
        logic = agg.logic()
        _, deads = logic.add([("a", e) for e in [{"k": "a", "t": odd}, *extra]], T0)
        assert len(deads) == len(extra)
        outs.append(logic.flush()[0])
    assert outs[0] == outs[1] and outs[0][0]["window_start"] <= T0 + timedelta(seconds=3) <= outs[0][0]["window_end"]


@pytest.mark.parametrize("chunks", [1, 3])
def test_micro_batch_takes_a_key_with_a_lone_surrogate(chunks):
    """JSON may escape a lone surrogate ("\\ud800"): it is a key like any other text."""
    step = MicroBatch("mb", {"key": "k", "chunks": chunks}, None)
    events = [{"k": "\ud800"}, {"k": "a"}, {"k": "\ud800"}]
    groups, deads = step.group(events)
    assert deads == [] and sorted(map(id, (e for _, pairs in groups for _, e in pairs))) == sorted(map(id, events))
    assert len({chunk for chunk, pairs in groups for _, e in pairs if e["k"] == "\ud800"}) == 1
