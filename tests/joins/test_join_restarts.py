"""The stream-table join against a plain model, driven as the compiled flow drives it (the join's keyed
boundary, timers on a set clock, snapshots pickled and restored after a crash and a downtime, the input
since the snapshot replayed): what each event sees is what a run without crashes gives, keys equal
across types as their text, events held for a row across a restart that lasted longer than `wait`."""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.joins.stream_table import StreamTableJoin
from engine.operators.map import key_text
from tests.joins.restart_driver import Driver

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def join(how="left", wait="1h"):
    config = {"table": "t", "on": "k", "table_key": "id", "delete_when": "gone", "fields": {"v": "v"}, "how": how}
    if wait:
        config["wait"] = wait
    return StreamTableJoin("j", config, None, {"table": None})


def model(fed, how, wait):
    """Plain Python over the input in its order (no crash; the waits never expire before the end)."""
    table, held, out, dead = {}, {}, [], 0
    for side, event in fed:
        if side == "table":
            key = event.get("id")
            if key is None:
                dead += 1
            elif event.get("gone") is True:
                table.pop(key_text(key), None)
            else:
                table[key_text(key)] = event.get("v")
                out += [{**e, "v": table[key_text(key)]} for e in held.pop(key_text(key), [])]
        else:
            key = None if event["k"] is None else key_text(event["k"])
            if key in table:
                out.append({**event, "v": table[key]})
            elif key is not None and wait:
                held.setdefault(key, []).append(event)
            elif how == "left":
                out.append({**event, "v": None})
    out += [{**e, "v": None} for waiting in held.values() for e in waiting] if how == "left" else []
    return out, dead


keys = st.one_of(st.just("a"), st.sampled_from(["b", 1, "1", 1.0, True, "True", "ü", None]))
rows = st.builds(lambda k, v, gone: {"id": k, "v": v, "gone": gone}, keys, st.integers(0, 9), st.booleans())
events = st.builds(lambda k: {"k": k}, keys)
arrivals = st.tuples(st.sampled_from(["from", "table"]), st.lists(st.none(), min_size=1, max_size=3),
                     st.integers(0, 20))  # a batch of so many events (filled below), after so many seconds
crashes = st.sampled_from([0, 3]).map(lambda hours: ("crash", hours))
plans = st.lists(st.one_of(arrivals, arrivals, st.just("snapshot"), crashes), max_size=30)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(plans, st.sampled_from(["left", "inner"]), st.sampled_from([None, "1h"]), st.data())
def test_what_each_event_sees_is_the_runs_without_crashes(plan, how, wait, data):
    fed = []
    with Driver(join(how, wait), NOW) as driver:
        for item in plan:
            if item == "snapshot":
                driver.snapshot()
            elif item[0] == "crash":
                driver.crash(timedelta(hours=item[1]))
            else:
                side, batch, seconds = item
                batch = [data.draw(events if side == "from" else rows) for _ in batch]
                for event in batch:
                    if side == "from":
                        event["n"] = len(fed)
                    fed.append((side, event))
                driver.feed(side, batch, timedelta(seconds=seconds))
        driver.end()
    expected, dead = model(fed, how, wait)
    assert driver.failures == []
    assert sorted(driver.out, key=lambda e: e["n"]) == sorted(expected, key=lambda e: e["n"])
    assert len(driver.dead) == dead


def test_a_held_event_waits_again_after_a_restart_longer_than_its_wait():
    """It used to be released with null fields as the key was restored, before the replayed row came."""
    with Driver(join(wait="30s"), NOW) as driver:
        driver.feed("from", [{"k": "a", "n": 1}])
        driver.snapshot()
        driver.feed("table", [{"id": "a", "v": 7, "gone": False}], timedelta(seconds=5))
        driver.crash(timedelta(minutes=10))  # down for 10 minutes: the row is read again after the restart
        driver.end()
    assert driver.out == [{"k": "a", "n": 1, "v": 7}] and driver.dead == [] and driver.failures == []


def test_after_a_restart_a_held_event_still_expires_after_its_wait():
    with Driver(join(wait="30s"), NOW) as driver:
        driver.feed("from", [{"k": "a", "n": 1}])
        driver.snapshot()
        driver.crash(timedelta(minutes=10))
        driver.tick(timedelta(seconds=29))
        assert driver.out == []
        driver.tick(timedelta(seconds=1))
        assert driver.out == [{"k": "a", "n": 1, "v": None}]
