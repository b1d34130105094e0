"""aggregate without Bytewax: functions, nulls, every window kind, lateness, config errors."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.errors import ConfigError
from engine.operators.aggregate import Aggregate

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def run(config, events, now=T0, fields=None):
    """Group like the compiler does, feed each key's aggregator, flush at the end."""
    agg = Aggregate("agg", config, fields)
    groups, deads = agg.group(events)
    results = []
    for _, pairs in groups:
        aggregator = agg.aggregator()
        emitted, failed = aggregator.add(pairs, now)
        flushed, unflushed = aggregator.flush()
        results += emitted + flushed
        deads += failed + unflushed
    return results, deads


def ok(released):
    """What ``due`` or ``flush`` emitted, checking it dead-lettered nothing."""
    emitted, deads = released
    assert deads == []
    return emitted


def test_every_function_with_sql_null_semantics():
    events = [{"k": "a", "x": 3}, {"k": "a", "x": None}, {"k": "a", "x": 1}, {"k": "a"}, {"k": "a", "x": 2}]
    compute = {"n": "count()", "nx": "count(x)", "s": "sum(x)", "lo": "min(x)", "hi": "max(x)", "mean": "avg(x)",
               "first": "first(x)", "last": "last(x)", "all": "collect(x)"}
    results, deads = run({"key": "k", "compute": compute, "emit": "final"}, events)
    assert deads == []
    assert results == [{"k": "a", "n": 5, "nx": 3, "s": 6, "lo": 1, "hi": 3, "mean": 2.0, "first": 3, "last": 2,
                        "all": [3, 1, 2], "_key": "a"}]


def test_sums_of_nothing_are_null_and_decimals_stay_exact():
    events = [{"k": 1, "x": None}, {"k": 2, "x": Decimal("0.10")}, {"k": 2, "x": Decimal("0.20")}]
    results, _ = run({"key": "k", "compute": {"s": "sum(x)", "m": "avg(x)"}, "emit": "final"}, events)
    assert sorted(results, key=lambda r: r["k"]) == [
        {"k": 1, "s": None, "m": None, "_key": "1"}, {"k": 2, "s": Decimal("0.30"), "m": Decimal("0.15"), "_key": "2"}]


def test_updates_emit_the_running_result_after_each_batch():
    agg = Aggregate("agg", {"compute": {"n": "count()"}}, None)  # default key: _key
    aggregator = agg.aggregator()
    first, _ = aggregator.add([("k", {"_key": "k"}), ("k", {"_key": "k"})], T0)
    second, _ = aggregator.add([("k", {"_key": "k"})], T0)
    assert (first, second) == ([{"key": "k", "n": 2, "_key": "k"}], [{"key": "k", "n": 3, "_key": "k"}])
    assert ok(aggregator.flush()) == []


def test_events_without_a_key_or_with_a_failing_argument_are_dead_lettered():
    events = [{"k": None, "x": 1}, {"k": "a", "x": 1}, {"k": "a", "x": "oops"}]
    results, deads = run({"key": "k", "compute": {"s": "sum(x)"}, "emit": "final"}, events)
    assert results == [{"k": "a", "s": 1, "_key": "a"}]
    assert [d.error for d in deads] == ["the aggregation key is null", "sum() of a non-number: str 'oops'"]


EVENT_TIME = {"event_time": "at"}


def test_tumbling_event_time_windows_close_at_the_watermark():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    agg = Aggregate("agg", config, None)
    aggregator = agg.aggregator()
    emitted, _ = aggregator.add([("a", {"k": "a", "at": at(1)}), ("a", {"k": "a", "at": at(9)})], T0)
    assert emitted == []
    emitted, _ = aggregator.add([("a", {"k": "a", "at": at(12)})], T0)
    assert emitted == [{"k": "a", "window_start": at(0), "window_end": at(10), "n": 2, "_key": "a"}]
    assert ok(aggregator.flush()) == [{"k": "a", "window_start": at(10), "window_end": at(20), "n": 1, "_key": "a"}]


def test_a_late_event_is_dead_lettered_with_its_window():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    aggregator = Aggregate("agg", config, None).aggregator()
    aggregator.add([("a", {"k": "a", "at": at(25)})], T0)
    _, deads = aggregator.add([("a", {"k": "a", "at": at(5)})], T0)
    assert [d.error for d in deads] == [
        "late event: event time 2026-11-02T06:00:05+00:00 is in window [2026-11-02T06:00:00+00:00, "
        "2026-11-02T06:00:10+00:00), closed at watermark 2026-11-02T06:00:25+00:00"]


def test_allowed_lateness_keeps_windows_open():
    config = {"key": "k", "compute": {"n": "count()"},
              "window": {"tumbling": "10s", "allowed_lateness": "20s", **EVENT_TIME}}
    aggregator = Aggregate("agg", config, None).aggregator()
    aggregator.add([("a", {"k": "a", "at": at(25)})], T0)
    emitted, deads = aggregator.add([("a", {"k": "a", "at": at(5)})], T0)
    assert (emitted, deads) == ([], [])
    assert [r["n"] for r in ok(aggregator.flush())] == [1, 1]


def test_the_watermark_advances_with_system_time_so_idle_keys_close():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    aggregator = Aggregate("agg", config, None).aggregator()
    aggregator.add([("a", {"k": "a", "at": at(3)})], T0)
    assert aggregator.next_notification() == T0 + timedelta(seconds=7)
    assert ok(aggregator.due(T0 + timedelta(seconds=6))) == []
    assert [r["n"] for r in ok(aggregator.due(T0 + timedelta(seconds=7)))] == [1]


def test_sliding_windows_count_an_event_in_each_window_it_falls_in():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"sliding": {"size": "10s", "every": "5s"}, **EVENT_TIME}}
    results, _ = run(config, [{"k": "a", "at": at(7)}, {"k": "a", "at": at(12)}])
    assert [(r["window_start"], r["window_end"], r["n"]) for r in results] == [
        (at(0), at(10), 1), (at(5), at(15), 2), (at(10), at(20), 1)]


def test_sessions_merge_when_an_event_bridges_them():
    config = {"key": "k", "compute": {"n": "count()", "f": "first(x)", "l": "last(x)"},
              "window": {"session": {"gap": "7s"}, **EVENT_TIME, "allowed_lateness": "1m"}}
    events = [{"k": "a", "at": at(0), "x": 1}, {"k": "a", "at": at(12), "x": 3}, {"k": "a", "at": at(30), "x": 9}]
    agg = Aggregate("agg", config, None)
    aggregator = agg.aggregator()
    aggregator.add([("a", e) for e in events], T0)
    aggregator.add([("a", {"k": "a", "at": at(6), "x": 2})], T0)  # joins the sessions at 0 and 12
    assert [(r["window_start"], r["window_end"], r["n"], r["f"], r["l"]) for r in ok(aggregator.flush())] == [
        (at(0), at(12), 3, 1, 3), (at(30), at(30), 1, 9, 9)]


def test_count_windows_emit_every_n_events_and_the_rest_at_the_end():
    config = {"key": "k", "compute": {"s": "sum(x)"}, "window": {"count": 2}}
    results, _ = run(config, [{"k": "a", "x": i} for i in range(5)])
    assert [(r["window_index"], r["s"]) for r in results] == [(0, 1), (1, 5), (2, 4)]


def test_processing_time_windows_use_the_system_clock():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "1m"}}
    aggregator = Aggregate("agg", config, None).aggregator()
    aggregator.add([("a", {"k": "a"})], at(30))
    assert aggregator.next_notification() == at(60)
    assert [(r["window_start"], r["n"]) for r in ok(aggregator.due(at(60)))] == [(at(0), 1)]
    assert aggregator.disposable


def test_missing_event_time_is_a_dead_letter():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    results, deads = run(config, [{"k": "a", "at": "yesterday"}])
    assert results == [] and [d.error for d in deads] == ["event_time: expected a timestamp, got str 'yesterday'"]


# -- sessions ------------------------------------------------------------------------------
SESSION = {"key": "k", "compute": {"n": "count()", "all": "collect(x)"}, "window": {"session": {"gap": "5s"}, **EVENT_TIME}}


def spans(results):
    return [((r["window_start"] - T0).total_seconds(), (r["window_end"] - T0).total_seconds(), r["n"]) for r in results]


def feed(config, batches, now=T0):
    """One key's batches in order (same system time); results including the final flush."""
    aggregator = Aggregate("agg", config, None).aggregator()
    results, deads = [], []
    for batch in batches:
        emitted, failed = aggregator.add([("a", e) for e in batch], now)
        results += emitted
        deads += failed
    flushed, unflushed = aggregator.flush()
    return results + flushed, deads + unflushed


def test_events_exactly_gap_apart_start_a_new_session():
    results, _ = feed(SESSION, [[{"at": at(0)}, {"at": at(4)}, {"at": at(9)}]])
    assert spans(results) == [(0, 4, 2), (9, 9, 1)]


def test_a_closed_session_is_not_joined_whether_or_not_it_was_emitted_yet():
    events = [{"at": at(0), "x": 0}, {"at": at(100), "x": 1}, {"at": at(3), "x": 2}]
    together = feed(SESSION, [events])
    apart = feed(SESSION, [[e] for e in events])
    for results, deads in (together, apart):
        assert spans(results) == [(0, 0, 1), (100, 100, 1)]
        assert [d.error for d in deads] == [
            "late event: event time 2026-11-02T06:00:03+00:00 is in window [2026-11-02T06:00:03+00:00, "
            "2026-11-02T06:00:08+00:00), closed at watermark 2026-11-02T06:01:40+00:00"]


def test_merged_sessions_keep_their_values_in_time_order():
    config = {**SESSION, "window": {"session": {"gap": "5s"}, **EVENT_TIME, "allowed_lateness": "1m"}}
    results, _ = feed(config, [[{"at": at(8), "x": "c"}], [{"at": at(0), "x": "a"}], [{"at": at(4), "x": "b"}]])
    assert [(r["all"], r["n"]) for r in results] == [(["a", "b", "c"], 3)]


def test_an_event_whose_argument_fails_does_not_extend_a_session():
    config = {"key": "k", "compute": {"s": "sum(x)"}, "window": {"session": {"gap": "5s"}, **EVENT_TIME}}
    results, deads = feed(config, [[{"at": at(0), "x": 1}, {"at": at(4), "x": "bad"}, {"at": at(8), "x": 2}]])
    assert [(r["window_end"], r["s"]) for r in results] == [(at(0), 1), (at(8), 2)]
    assert [d.event["x"] for d in deads] == ["bad"]


def test_processing_time_sessions_close_gap_after_their_last_event():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"session": {"gap": "10s"}}}
    aggregator = Aggregate("agg", config, None).aggregator()
    aggregator.add([("a", {}), ("a", {})], at(0))
    aggregator.add([("a", {})], at(6))
    assert aggregator.next_notification() == at(16)
    assert ok(aggregator.due(at(15))) == []
    assert spans(ok(aggregator.due(at(16)))) == [(0, 6, 3)]


# -- sliding, tumbling, count ----------------------------------------------------------------
def test_sliding_windows_whose_size_is_not_a_multiple_of_every():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"sliding": {"size": "10s", "every": "4s"}, **EVENT_TIME}}
    results, _ = feed(config, [[{"at": at(9)}]])
    assert spans(results) == [(0, 10, 1), (4, 14, 1), (8, 18, 1)]


def test_a_late_sliding_event_names_its_last_window():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"sliding": {"size": "10s", "every": "5s"}, **EVENT_TIME}}
    results, deads = feed(config, [[{"at": at(40)}], [{"at": at(7)}]])
    assert spans(results) == [(35, 45, 1), (40, 50, 1)]
    assert deads[0].error.startswith("late event: event time 2026-11-02T06:00:07+00:00 is in window "
                                     "[2026-11-02T06:00:05+00:00, 2026-11-02T06:00:15+00:00)")


def test_windows_of_different_keys_are_independent():
    config = {"key": "k", "compute": {"n": "count()", "xs": "collect(x)"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    events = [{"k": "a", "at": at(1), "x": 1}, {"k": "b", "at": at(30), "x": 2}, {"k": "a", "at": at(2), "x": 3}]
    results, deads = run(config, events)
    assert deads == []  # b's watermark does not make a's events late
    assert sorted((r["k"], (r["window_start"] - T0).total_seconds(), r["xs"]) for r in results) == [
        ("a", 0, [1, 3]), ("b", 30, [2])]


def test_naive_event_times_are_utc():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "1m", **EVENT_TIME}}
    results, _ = feed(config, [[{"at": datetime(2026, 11, 2, 6, 0, 30)}]])
    assert (results[0]["window_start"], results[0]["window_end"]) == (T0, T0 + timedelta(minutes=1))


def test_count_windows_do_not_count_failed_events():
    config = {"key": "k", "compute": {"s": "sum(x)"}, "window": {"count": 2}}
    results, deads = feed(config, [[{"x": 1}, {"x": "bad"}, {"x": 2}, {"x": 3}]])
    assert [(r["window_index"], r["s"]) for r in results] == [(0, 3), (1, 3)]
    assert len(deads) == 1


# -- the watermark over time -----------------------------------------------------------------
TUMBLING = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}


def test_a_window_is_never_emitted_twice_when_system_time_ran_ahead():
    aggregator = Aggregate("agg", TUMBLING, None).aggregator()
    aggregator.add([("a", {"at": at(5)})], T0)
    assert spans(ok(aggregator.due(T0 + timedelta(seconds=10)))) == [(0, 10, 1)]  # watermark 15
    # a newer event, but behind the watermark: it must not pull the watermark back to 7
    _, late = aggregator.add([("a", {"at": at(7)})], T0 + timedelta(seconds=10))
    emitted, late2 = aggregator.add([("a", {"at": at(8)})], T0 + timedelta(seconds=10))
    assert (len(late), len(late2), emitted, ok(aggregator.flush())) == (1, 1, [], [])


def test_the_clock_going_back_does_not_reopen_processing_time_windows():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s"}}
    aggregator = Aggregate("agg", config, None).aggregator()
    aggregator.add([("a", {})], at(5))
    assert spans(ok(aggregator.due(at(10)))) == [(0, 10, 1)]
    aggregator.add([("a", {})], at(9))  # the system clock stepped back a second
    assert spans(ok(aggregator.flush())) == [(10, 20, 1)]


def test_a_snapshot_pickles_and_resumes_without_counting_the_downtime():
    import pickle

    agg = Aggregate("agg", TUMBLING, None)
    before = agg.aggregator()
    before.add([("a", {"k": "a", "at": at(1)})], T0)
    state = pickle.loads(pickle.dumps(before.state()))
    before.add([("a", {"k": "a", "at": at(2)})], T0)  # the snapshot is a copy
    after = agg.aggregator(state)
    after.resume(T0 + timedelta(hours=1))  # down for an hour
    emitted, deads = after.add([("a", {"k": "a", "at": at(3)})], T0 + timedelta(hours=1))
    assert (emitted, deads) == ([], [])
    assert after.next_notification() == T0 + timedelta(hours=1, seconds=7)  # watermark 3s, window end 10s
    assert spans(ok(after.flush())) == [(0, 10, 2)]


def test_sum_and_avg_need_numbers():
    with pytest.raises(ConfigError) as caught:
        Aggregate("agg", {"compute": {"s": "avg( name)"}}, {"name": "str"})
    assert (caught.value.message, caught.value.path, caught.value.offset) == ("avg() needs numbers, not str", ("compute", "s"), 4)
    results, deads = run({"key": "k", "compute": {"s": "sum(x)", "m": "avg(x)"}, "emit": "final"},
                         [{"k": "a", "x": "7"}, {"k": "a", "x": 1.5}, {"k": "a", "x": 2}])
    assert results == [{"k": "a", "s": 3.5, "m": 1.75, "_key": "a"}]
    assert [d.error for d in deads] == ["sum() of a non-number: str '7'"]


def test_a_session_merge_that_fails_dead_letters_only_the_bridging_event():
    config = {"key": "k", "compute": {"lo": "min(x)"}, "window": {"session": {"gap": "5s"}, **EVENT_TIME}}
    results, deads = feed(config, [[{"at": at(0), "x": 1}, {"at": at(8), "x": "z"}, {"at": at(4), "x": 0}]])
    assert [(r["window_start"], r["window_end"], r["lo"]) for r in results] == [(at(0), at(0), 1), (at(8), at(8), "z")]
    assert [d.event["x"] for d in deads] == [0] and deads[0].error == "'<=' not supported between instances of 'int' and 'str'"


def test_late_events_inside_one_batch_leave_no_empty_windows():
    results, deads = feed(TUMBLING, [[{"at": at(s)} for s in (25, 5, 26, 3, 12)]])
    assert spans(results) == [(20, 30, 2)]
    assert [(d.event["at"] - T0).total_seconds() for d in deads] == [5, 3, 12]


def test_bad_event_times_in_a_batch_are_dead_lettered_one_by_one():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", "event_time": "timestamp(s)"}}
    plus_two = timezone(timedelta(hours=2))
    events = [{"s": "2026-11-02T06:00:01Z"}, {"s": None}, {"s": "not a time"},
              {"s": datetime(2026, 11, 2, 8, 0, 2, tzinfo=plus_two)}]
    results, deads = feed(config, [events])
    assert spans(results) == [(0, 10, 2)]
    assert [d.event["s"] for d in deads] == [None, "not a time"]
    assert deads[0].error == "event_time: null" and deads[1].error.startswith("event_time: ")


# Snapshots pickled before each window kind had a state type of its own (one KeyState for all
# kinds), each after two events of key "a" at 1s and 3s (test: keep them restorable).
LEGACY = {
    "running": "gAWV+wAAAAAAAACMGmVuZ2luZS5vcGVyYXRvcnMuYWdncmVnYXRllIwIS2V5U3RhdGWUk5QpgZR9lCiMA2tleZSMAWGUjAdydW5uaW5nlF2USwJhjAdjaGFuZ2VklIiMB3dpbmRvd3OUfZSMDm1heF9ldmVudF90aW1llE6MC21heF9zZWVuX2F0lE6MBWNsb2NrlIwIZGF0ZXRpbWWUjAhkYXRldGltZZSTlEMKB+oLAgYAAAAAAJRoD4wIdGltZXpvbmWUk5RoD4wJdGltZWRlbHRhlJOUSwBLAEsAh5RSlIWUUpSGlFKUjARzZWVulEsAjAtjb3VudF9pbmRleJRLAHViLg==",  # noqa: E501
    "count": "gAWV+wAAAAAAAACMGmVuZ2luZS5vcGVyYXRvcnMuYWdncmVnYXRllIwIS2V5U3RhdGWUk5QpgZR9lCiMA2tleZSMAWGUjAdydW5uaW5nlF2USwJhjAdjaGFuZ2VklImMB3dpbmRvd3OUfZSMDm1heF9ldmVudF90aW1llE6MC21heF9zZWVuX2F0lE6MBWNsb2NrlIwIZGF0ZXRpbWWUjAhkYXRldGltZZSTlEMKB+oLAgYAAAAAAJRoD4wIdGltZXpvbmWUk5RoD4wJdGltZWRlbHRhlJOUSwBLAEsAh5RSlIWUUpSGlFKUjARzZWVulEsCjAtjb3VudF9pbmRleJRLAHViLg==",  # noqa: E501
    "tumbling": "gAWVPgEAAAAAAACMGmVuZ2luZS5vcGVyYXRvcnMuYWdncmVnYXRllIwIS2V5U3RhdGWUk5QpgZR9lCiMA2tleZSMAWGUjAdydW5uaW5nlE6MB2NoYW5nZWSUiYwHd2luZG93c5R9lIwIZGF0ZXRpbWWUjAhkYXRldGltZZSTlEMKB+oLAgYAAAAAAJRoC4wIdGltZXpvbmWUk5RoC4wJdGltZWRlbHRhlJOUSwBLAEsAh5RSlIWUUpSGlFKUaA1DCgfqCwIGAAoAAACUaBaGlFKUhpRdlEsCYXOMDm1heF9ldmVudF90aW1llGgNQwoH6gsCBgADAAAAlGgWhpRSlIwLbWF4X3NlZW5fYXSUaA1DCgfqCwIGAAAAAACUaBaGlFKUjAVjbG9ja5RoJYwEc2VlbpRLAIwLY291bnRfaW5kZXiUSwB1Yi4=",  # noqa: E501
    "session": "gAWVKwEAAAAAAACMGmVuZ2luZS5vcGVyYXRvcnMuYWdncmVnYXRllIwIS2V5U3RhdGWUk5QpgZR9lCiMA2tleZSMAWGUjAdydW5uaW5nlE6MB2NoYW5nZWSUiYwHd2luZG93c5R9lIwIZGF0ZXRpbWWUjAhkYXRldGltZZSTlEMKB+oLAgYAAQAAAJRoC4wIdGltZXpvbmWUk5RoC4wJdGltZWRlbHRhlJOUSwBLAEsAh5RSlIWUUpSGlFKUaA1DCgfqCwIGAAMAAACUaBaGlFKUhpRdlEsCYXOMDm1heF9ldmVudF90aW1llGgbjAttYXhfc2Vlbl9hdJRoDUMKB+oLAgYAAAAAAJRoFoaUUpSMBWNsb2NrlGgijARzZWVulEsAjAtjb3VudF9pbmRleJRLAHViLg==",  # noqa: E501
}


@pytest.mark.parametrize("kind,window,expected", [
    ("running", None, [{"k": "a", "n": 3, "_key": "a"}]),
    ("count", {"count": 3}, [{"k": "a", "window_index": 0, "n": 3, "_key": "a"}]),
    ("tumbling", {"tumbling": "10s", "event_time": "at", "allowed_lateness": "2s"},
     [{"k": "a", "window_start": at(0), "window_end": at(10), "n": 3, "_key": "a"}]),
    ("session", {"session": {"gap": "5s"}, "event_time": "at"},
     [{"k": "a", "window_start": at(1), "window_end": at(4), "n": 3, "_key": "a"}]),
])
def test_a_snapshot_from_before_the_window_kinds_had_their_own_state_restores(kind, window, expected):
    import base64
    import pickle

    config = {"key": "k", "compute": {"n": "count()"}, **({"window": window} if window else {"emit": "final"})}
    agg = Aggregate("agg", config, None)
    restored = agg.logic(pickle.loads(base64.b64decode(LEGACY[kind])))
    restored.resume(T0)
    emitted, deads = restored.add([("a", {"k": "a", "at": at(4)})], T0)
    assert (emitted + ok(restored.flush()), deads) == (expected, [])
    assert type(restored.state()) is agg.Logic.State
