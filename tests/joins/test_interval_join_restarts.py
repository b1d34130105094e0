"""The interval join against a plain model, driven as the compiled flow drives it (the keyed boundary,
timers, snapshots pickled and restored after a crash and a downtime, the input since the snapshot
replayed): every pair once, whatever the crashes; and event times at the limits of timestamps are dead
letters of their own, never a key's end."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.joins.interval import IntervalJoin
from engine.operators.map import key_text
from tests.joins.restart_driver import Driver

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
CONFIG = {"with": "scans", "on": "order", "with_key": "order", "time": "at", "with_time": "at",
          "before": "10m", "after": "5m", "allowed_lateness": "1h", "fields": {"scan": "id"}}
BEFORE, AFTER = timedelta(minutes=10), timedelta(minutes=5)


def step(**config):
    return IntervalJoin("ij", {**CONFIG, **config}, None, {"with": None})


def timed(value):
    return isinstance(value, datetime) and value.tzinfo is not None


def model(events):
    """Plain Python: every (left, right) pair of one key within the interval; junk times are dead."""
    lefts = [e for side, e in events if side == "l" and timed(e["at"]) and e["order"] is not None]
    rights = [e for side, e in events if side == "r" and timed(e["at"]) and e["order"] is not None]
    pairs = sorted((left["n"], right["id"]) for left in lefts for right in rights
                   if key_text(left["order"]) == key_text(right["order"])
                   and left["at"] - BEFORE <= right["at"] <= left["at"] + AFTER)
    return pairs, sum(1 for _, e in events if not timed(e["at"]))


keys = st.one_of(st.just("a"), st.sampled_from(["b", 1, "1", True, "ü", None]))  # "a" half the time
times = st.one_of(st.integers(0, 30).map(lambda m: T0 + timedelta(minutes=m)),
                  st.sampled_from([None, "soon", 5, datetime(2026, 11, 2, 6, 0)]))  # junk: dead letters
arrivals = st.tuples(st.sampled_from("lr"), keys, times, st.integers(0, 30))  # ... and seconds of processing time
crashes = st.sampled_from([0, 3]).map(lambda hours: ("crash", hours))  # a crash, and the hours the flow is down
plans = st.lists(st.one_of(arrivals, arrivals, st.just("snapshot"), crashes), max_size=40)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(plans)
def test_every_pair_once_across_snapshots_crashes_and_downtimes(plan):
    fed = []
    with Driver(step(), NOW) as driver:
        for number, item in enumerate(plan):
            if item == "snapshot":
                driver.snapshot()
            elif item[0] == "crash":
                driver.crash(timedelta(hours=item[1]))
            else:
                side, key, at, seconds = item
                event = {"order": key, "at": at, **({"n": number} if side == "l" else {"id": number})}
                fed.append((side, event))
                driver.feed("from" if side == "l" else "with", [event], timedelta(seconds=seconds))
        driver.end()
    pairs, dead = model(fed)
    assert driver.failures == []
    assert sorted((e["n"], e["scan"]) for e in driver.out) == pairs
    assert len(driver.dead) == dead, [d.error for d in driver.dead]


def test_a_downtime_longer_than_the_lateness_does_not_make_the_replayed_events_late():
    with Driver(step(allowed_lateness="1m"), NOW) as driver:
        driver.feed("from", [{"order": "o", "at": T0, "n": 1}])
        driver.snapshot()
        driver.crash(timedelta(hours=2))  # down for two hours; the scan comes with the replay
        driver.feed("with", [{"order": "o", "at": T0 + timedelta(minutes=2), "id": "s"}])
    assert [(e["n"], e["scan"]) for e in driver.out] == [(1, "s")] and driver.dead == []


def test_a_snapshot_of_the_state_without_its_clock_is_restored():
    join = step()
    logic = join.logic(None)
    logic.add(join.group([{"order": "o", "at": T0, "n": 1}])[0][0][1], NOW)
    state = logic.state().__getstate__()[:4]  # the snapshot's shape before the clock was kept
    restored = join.logic(None)
    restored.s.__setstate__(state)
    restored.resume(NOW + timedelta(hours=1))
    emitted, dead = restored.add(join.group_side([{"order": "o", "at": T0, "id": "s"}])[0][0][1], NOW)
    assert [e["scan"] for e in emitted] == ["s"] and dead == []


LIMITS = ["9999-12-31T23:59:59Z", "9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+00:00"]


def test_event_times_at_the_limits_of_timestamps_are_dead_letters_and_the_key_goes_on():
    """Such a time used to raise OverflowError in the key's state (its window's bounds), and once held
    made every later event of the key, and its timer, fail: the key was lost."""
    for at in LIMITS:
        with Driver(step(before="0s"), NOW) as driver:
            driver.feed("with", [{"order": "o", "at": at, "id": "far"}])
            driver.feed("from", [{"order": "o", "at": at, "n": 0}])
            driver.feed("from", [{"order": "o", "at": T0, "n": 1}], timedelta(seconds=5))
            driver.feed("with", [{"order": "o", "at": T0, "id": "s"}], timedelta(minutes=1))
            driver.tick(timedelta(hours=3))
        assert driver.failures == []
        assert [(e["n"], e["scan"]) for e in driver.out] == [(1, "s")]
        assert [d.error.split(":")[0] for d in driver.dead] == ["with_time", "time"]
        assert "too close to the limits of timestamps" in driver.dead[0].error


def test_a_watermark_moved_past_the_last_timestamp_frees_the_key():
    join = step(allowed_lateness="0s", before="0s", after="0s")
    latest = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    logic = join.logic(None)
    emitted, dead = logic.add(join.group([{"order": "o", "at": latest, "n": 1}])[0][0][1], NOW)
    assert (emitted, dead) == ([], [])
    logic.due(NOW + timedelta(days=1))  # the system clock moved the watermark past the last timestamp
    assert logic.disposable
    late = logic.add(join.group_side([{"order": "o", "at": latest, "id": "s"}])[0][0][1], NOW + timedelta(days=1))
    assert late[0] == [] and late[1][0].error.startswith("late event")


@pytest.mark.parametrize("before,lateness", [("3000000d", "1000000d"), ("999999999d", "1d")])
def test_an_interval_reaching_past_the_range_of_timestamps_is_refused_at_validate(before, lateness):
    """Durations whose reach from an event time is more than half the range of timestamps leave
    no event time: a located error (before: an OverflowError at run, exit 4)."""
    from engine.binding import validate_text

    text = f"""\
version: 1
name: ij
sources:
  a: {{file: {{path: a.jsonl}}}}
  b: {{file: {{path: b.jsonl}}}}
steps:
  - id: j
    from: a
    interval_join: {{with: b, on: id, with_key: id, time: ts, with_time: ts, before: {before}, after: 1d,
                    allowed_lateness: {lateness}, fields: {{x: x}}}}
sinks:
  out: {{from: j, stdout: {{}}}}
"""
    result = validate_text("t.yaml", text, env={})
    errors = [d.message for d in result.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and "more than half the range of timestamps" in errors[0], errors
