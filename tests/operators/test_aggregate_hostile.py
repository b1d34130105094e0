"""``aggregate`` against inputs its first tests never tried (an adversarial review): windows whose
options add up past the calendar, integers beyond the float range in ``avg``, decimal sums
that would need millions of digits, sliding windows of millions of windows per event, and a
snapshot taken before the step's ``compute`` or window changed. Each must give a located
configuration error or a dead letter with its reason, never an exception out of the step."""

import pickle
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.compiler import keyed
from engine.compiler.keyed import _KeyLogic
from engine.errors import ConfigError
from engine.operators.aggregate import Aggregate
from engine.operators.aggregations import EXACT_DIGITS

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
FLOAT_MAX = int(sys.float_info.max)  # the largest float, as an exact integer
WINDOWS = [None, {"tumbling": "1h", "event_time": "t"}, {"sliding": {"size": "2h", "every": "1h"}, "event_time": "t"},
           {"session": {"gap": "1h"}, "event_time": "t"}, {"count": 2}]


def step(compute, window=None):
    config = {"key": "k", "compute": compute, **({"window": window} if window else {"emit": "final"})}
    return Aggregate("agg", config, None)


def feed(agg, batches):
    """One key's batches, then the end of the input: (results, dead letters); raises if a call does."""
    logic, results, deads = agg.logic(), [], []
    for batch in filter(None, batches):  # (the compiler calls add with some events)
        emitted, failed = logic.add([("a", {"k": "a", "t": T0, **e}) for e in batch], T0)
        results += emitted
        deads += failed
    emitted, failed = logic.flush()
    return results + emitted, deads + failed


# -- options that add up past the calendar ------------------------------------------------
@pytest.mark.parametrize("window,path", [
    ({"session": {"gap": "999999999d"}, "event_time": "t"}, ("window", "session", "gap")),
    ({"tumbling": "1h", "event_time": "t", "allowed_lateness": "999999999d"}, ("window", "allowed_lateness")),
    ({"tumbling": "1h", "event_time": "t", "allowed_lateness": "2200000d"}, ("window", "allowed_lateness")),
    ({"sliding": {"size": "999999999d", "every": "999999999d"}, "event_time": "t"}, ("window", "sliding", "size")),
])
def test_a_window_whose_options_reach_past_the_calendar_is_a_configuration_error(window, path):
    """Each duration alone fits a timedelta; their sum (size, every, twice the gap, the lateness)
    did not (an OverflowError out of the step: 'internal error'), or left no event time to take."""
    with pytest.raises(ConfigError) as caught:
        step({"n": "count()"}, window)
    assert caught.value.path == path and "no event time" in caught.value.message


def test_a_long_lateness_that_leaves_room_is_taken():
    agg = step({"n": "count()"}, {"tumbling": "1h", "event_time": "t", "allowed_lateness": "100000d"})  # 274 years
    results, deads = feed(agg, [[{}]])
    assert deads == [] and [r["n"] for r in results] == [1]


# -- avg of integers beyond the float range -----------------------------------------------
@pytest.mark.parametrize("window", WINDOWS)
def test_avg_of_an_integer_beyond_the_float_range_dead_letters_that_event(window):
    """``cast: {x: int}`` takes 400 digits of text; the mean 1e400 has no float: ``result()``
    raised an OverflowError when the window (or the running total) was emitted, losing it and
    every result of the key after it."""
    agg = step({"m": "avg(x)", "n": "count()"}, window)
    results, deads = feed(agg, [[{"x": 1}, {"x": 10 ** 400}], [{"x": 3}]])
    assert [d.event["x"] for d in deads] == [10 ** 400]
    assert deads[0].error == "avg() of an integer beyond the float range (about 1.8e308): the mean would not be a float"
    assert sum(r["n"] for r in results) == 2 * (2 if "sliding" in (window or {}) else 1)
    assert {r["m"] for r in results} == {2.0}


big_ints = st.integers(-10 ** 6, 10 ** 6) | st.sampled_from(
    [10 ** 400, -10 ** 400, FLOAT_MAX, -FLOAT_MAX, FLOAT_MAX + 1, -FLOAT_MAX - 1, 2 ** 1024])


@PROPERTY
@given(st.lists(st.lists(big_ints, max_size=6), max_size=5), st.sampled_from(WINDOWS))
@example([[10 ** 400, -10 ** 400]], None)  # a sum back in range: each value still fails alone
@example([[FLOAT_MAX, FLOAT_MAX]], None)  # a sum past the range whose mean is in it
def test_avg_of_integers_is_their_exact_mean_rounded_in_any_batching(batches, window):
    """Integers within the float range are averaged (their mean, correctly rounded: Python's int
    true division); one beyond it is dead-lettered, whatever the batches around it."""
    agg = step({"m": "avg(x)", "all": "collect(x)"}, window)
    results, deads = feed(agg, [[{"x": x} for x in batch] for batch in batches])
    assert sorted(d.event["x"] for d in deads) == sorted(x for b in batches for x in b if abs(x) > FLOAT_MAX)
    for result in results:
        assert result["m"] == float(Fraction(sum(result["all"]), len(result["all"])))


# -- exact decimal sums ---------------------------------------------------------------------
@pytest.mark.parametrize("compute", [{"s": "sum(x)"}, {"s": "avg(x)"}])
@pytest.mark.parametrize("window", [None, {"session": {"gap": "1h"}, "event_time": "t"}])
def test_a_decimal_sum_that_would_need_too_many_digits_dead_letters_the_event(compute, window):
    """A JSON source reads 1e-999999999 as that Decimal: added exactly to 1, a sum of a billion
    digits (gigabytes, and as much again to write it). A sum needing more digits than any sink
    column holds is refused; the sum before it stays."""
    agg = step(compute, window)
    results, deads = feed(agg, [[{"x": Decimal(1)}, {"x": Decimal(f"1E-{EXACT_DIGITS}")}, {"x": Decimal("0.5")}]])
    assert [d.event["x"] for d in deads] == [Decimal(f"1E-{EXACT_DIGITS}")]
    assert deads[0].error == f"the sum would need more than {EXACT_DIGITS} digits to stay exact"
    assert [r["s"] for r in results] == [Decimal("1.5") if compute["s"] == "sum(x)" else Decimal("0.75")]


def test_a_decimal_sum_past_the_largest_decimal_says_so():
    """The exact sum's Overflow is an Inexact too: its reason was a list of classes, then the wrong one."""
    results, deads = feed(step({"s": "sum(x)"}), [[{"x": Decimal("9E+999999")}, {"x": Decimal("9E+999999")}]])
    assert [r["s"] for r in results] == [Decimal("9E+999999")]
    assert [d.error for d in deads] == ["a decimal beyond the largest, 1E+999999 (overflow)"]


def test_exact_sums_of_wide_decimals_stay_exact():
    wide = Decimal("1E-1000")
    results, deads = feed(step({"s": "sum(x)"}), [[{"x": Decimal("1E+1000")}, {"x": wide}], [{"x": wide}]])
    # (the default context would round the sum to 28 digits)
    assert deads == [] and Fraction(results[0]["s"]) == Fraction(10) ** 1000 + 2 * Fraction(1, 10 ** 1000)


def test_a_session_merge_past_the_digits_dead_letters_the_bridging_event():
    agg = step({"s": "sum(x)"}, {"session": {"gap": "1h"}, "event_time": "t"})
    far = Decimal(f"1E+{EXACT_DIGITS}")
    results, deads = feed(agg, [[{"x": Decimal("0.5"), "t": T0}, {"x": far, "t": T0 + timedelta(minutes=90)}],
                                [{"x": Decimal(1), "t": T0 + timedelta(minutes=45)}]])
    assert [d.event["x"] for d in deads] == [Decimal(1)]
    assert deads[0].error == f"the sum would need more than {EXACT_DIGITS} digits to stay exact"
    assert [r["s"] for r in results] == [Decimal("0.5"), far]


# -- sliding windows of too many windows per event ------------------------------------------
def test_a_sliding_window_of_too_many_windows_per_event_is_a_configuration_error():
    """size 1d every 1ms puts each event in 86.4 million windows: one event took minutes and
    gigabytes."""
    with pytest.raises(ConfigError) as caught:
        step({"n": "count()"}, {"sliding": {"size": "1d", "every": "1ms"}, "event_time": "t"})
    assert caught.value.path == ("window", "sliding", "every") and "86400000 windows" in caught.value.message
    step({"n": "count()"}, {"sliding": {"size": "1h", "every": "1s"}, "event_time": "t"})  # 3600: taken


# -- a snapshot of the step before it changed -------------------------------------------------
def snapshot(window, compute, events):
    logic = step(compute, window).logic()
    logic.add([("a", {"k": "a", "t": T0, **e}) for e in events], T0)
    return pickle.dumps(logic.state())


@pytest.mark.parametrize("before,after", [
    (None, None), (WINDOWS[1], WINDOWS[1]), (WINDOWS[3], WINDOWS[3]), (WINDOWS[4], WINDOWS[4]),
    (WINDOWS[1], WINDOWS[4]), (None, WINDOWS[1]), (WINDOWS[4], None)])
def test_a_snapshot_of_another_compute_or_window_restarts_the_key_and_says_so(monkeypatch, before, after):
    """A topology redeployed on its recovery store with one more aggregation (or another window
    kind): the restored accumulators were one slot short (IndexError) or of another kind
    (AttributeError) in every call, so every later event of the key was dead-lettered for ever."""
    monkeypatch.setattr(keyed, "_now", lambda: T0)
    state = snapshot(before, {"n": "count()"}, [{"x": 1}])
    agg = step({"n": "count()", "s": "sum(x)"}, after)
    boundary = _KeyLogic("agg", agg, state)
    tagged, _ = boundary.on_batch([[("a", {"k": "a", "t": T0, "x": 2})]])
    assert [kind for kind, _ in tagged if kind != "ok"] == ["failed"]
    reports = [keyed._failure("agg", "a", item).error for kind, item in tagged if kind == "failed"]
    assert len(reports) == 1 and reports[0].startswith("internal error in restoring the state for key 'a': ")
    assert "the snapshot does not fit this step" in reports[0]
    assert reports[0].endswith("(the key starts from an empty state)")
    emitted, deads = boundary.logic.flush()
    results = [item for kind, item in tagged if kind == "ok"] + emitted
    assert deads == [] and [(r["n"], r["s"]) for r in results] == [(1, 2)]


@pytest.mark.parametrize("window", WINDOWS)
def test_a_snapshot_of_the_same_step_restores_as_it_was(window):
    compute = {"n": "count()", "s": "sum(x)"}
    logic = step(compute, window).logic(pickle.loads(snapshot(window, compute, [{"x": 1}])))
    logic.resume(T0)
    emitted, deads = logic.add([("a", {"k": "a", "t": T0, "x": 2})], T0)
    flushed, _ = logic.flush()
    assert deads == [] and [(r["n"], r["s"]) for r in emitted + flushed][-1] == (2, 3)
