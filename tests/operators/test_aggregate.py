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
        results += emitted + aggregator.flush()
        deads += failed
    return results, deads


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
    assert aggregator.flush() == []


def test_events_without_a_key_or_with_a_failing_argument_are_dead_lettered():
    events = [{"k": None, "x": 1}, {"k": "a", "x": 1}, {"k": "a", "x": "oops"}]
    results, deads = run({"key": "k", "compute": {"s": "sum(x)"}, "emit": "final"}, events)
    assert results == [{"k": "a", "s": 1, "_key": "a"}]
    assert [d.error for d in deads] == ["the aggregation key is null", "unsupported operand type(s) for +: 'int' and 'str'"]


EVENT_TIME = {"event_time": "at"}


def test_tumbling_event_time_windows_close_at_the_watermark():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    agg = Aggregate("agg", config, None)
    aggregator = agg.aggregator()
    emitted, _ = aggregator.add([("a", {"k": "a", "at": at(1)}), ("a", {"k": "a", "at": at(9)})], T0)
    assert emitted == []
    emitted, _ = aggregator.add([("a", {"k": "a", "at": at(12)})], T0)
    assert emitted == [{"k": "a", "window_start": at(0), "window_end": at(10), "n": 2, "_key": "a"}]
    assert aggregator.flush() == [{"k": "a", "window_start": at(10), "window_end": at(20), "n": 1, "_key": "a"}]


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
    assert [r["n"] for r in aggregator.flush()] == [1, 1]


def test_the_watermark_advances_with_system_time_so_idle_keys_close():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    aggregator = Aggregate("agg", config, None).aggregator()
    aggregator.add([("a", {"k": "a", "at": at(3)})], T0)
    assert aggregator.next_notification() == T0 + timedelta(seconds=7)
    assert aggregator.due(T0 + timedelta(seconds=6)) == []
    assert [r["n"] for r in aggregator.due(T0 + timedelta(seconds=7))] == [1]


def test_sliding_windows_count_an_event_in_each_window_it_falls_in():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"sliding": {"size": "10s", "every": "5s"}, **EVENT_TIME}}
    results, _ = run(config, [{"k": "a", "at": at(7)}, {"k": "a", "at": at(12)}])
    assert [(r["window_start"], r["window_end"], r["n"]) for r in results] == [
        (at(0), at(10), 1), (at(5), at(15), 2), (at(10), at(20), 1)]


def test_sessions_merge_when_an_event_bridges_them():
    config = {"key": "k", "compute": {"n": "count()", "f": "first(x)", "l": "last(x)"},
              "window": {"session": {"gap": "6s"}, **EVENT_TIME, "allowed_lateness": "1m"}}
    events = [{"k": "a", "at": at(0), "x": 1}, {"k": "a", "at": at(12), "x": 3}, {"k": "a", "at": at(30), "x": 9}]
    agg = Aggregate("agg", config, None)
    aggregator = agg.aggregator()
    aggregator.add([("a", e) for e in events], T0)
    aggregator.add([("a", {"k": "a", "at": at(6), "x": 2})], T0)  # joins the sessions at 0 and 12
    assert [(r["window_start"], r["window_end"], r["n"], r["f"], r["l"]) for r in aggregator.flush()] == [
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
    assert [(r["window_start"], r["n"]) for r in aggregator.due(at(60))] == [(at(0), 1)]
    assert aggregator.disposable


def test_missing_event_time_is_a_dead_letter():
    config = {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "10s", **EVENT_TIME}}
    results, deads = run(config, [{"k": "a", "at": "yesterday"}])
    assert results == [] and [d.error for d in deads] == ["event_time: expected a timestamp, got str 'yesterday'"]


def test_output_fields_for_known_inputs():
    agg = Aggregate("agg", {"key": "status", "compute": {"n": "count()", "kg": "sum(w)", "m": "avg(w)"},
                            "window": {"tumbling": "5s", "event_time": "t"}},
                    {"status": "str", "w": "decimal(10,2)", "t": "timestamp"})
    assert agg.output_fields == {"status": "str", "window_start": "timestamp", "window_end": "timestamp",
                                 "n": "int", "kg": "decimal", "m": "decimal", "_key": "str"}


CONFIG_ERRORS = [
    ({"compute": {"n": "summ(x)"}}, ("compute", "n"), "unknown aggregation 'summ'", "did you mean 'sum'?"),
    ({"compute": {"n": "x + 1"}}, ("compute", "n"), "'x + 1' is not an aggregation call", None),
    ({"compute": {"n": "sum()"}}, ("compute", "n"), "sum() needs an argument", "e.g. sum(weight_kg)"),
    ({"compute": {"n": "count()"}, "window": {"tumbling": "5 sec"}}, ("window", "tumbling"),
     "invalid duration '5 sec'", "write a number and a unit: 500ms, 5s, 2m, 1h or 1d"),
    ({"compute": {"n": "count()"}, "window": {"sliding": {"size": "5s", "every": "10s"}}},
     ("window", "sliding", "every"),
     "a sliding window cannot start more often than it lasts: 'every' is larger than 'size'", None),
    ({"compute": {"n": "count()"}, "window": {"tumbling": "5s", "time": "event"}}, ("window", "time"),
     "event-time windows need 'event_time'", None),
    ({"compute": {"n": "count()"}, "window": {"tumbling": "5s", "count": 3}}, ("window",),
     "a window has one kind, not tumbling and count", None),
    ({"compute": {"n": "count()"}, "window": {"tumbling": "5s"}, "emit": "updates"}, ("emit",),
     "windows emit each window once, when it closes", None),
]


@pytest.mark.parametrize("config,path,message,hint", CONFIG_ERRORS, ids=[c[2] for c in CONFIG_ERRORS])
def test_configuration_errors(config, path, message, hint):
    with pytest.raises(ConfigError) as caught:
        Aggregate("agg", config, None)
    assert (caught.value.path, caught.value.message) == (path, message)
    if hint:
        assert caught.value.hint == hint


def test_argument_errors_point_inside_the_call():
    with pytest.raises(ConfigError) as caught:
        Aggregate("agg", {"compute": {"n": "sum( wieght)"}}, {"weight": "int"})
    assert (caught.value.message, caught.value.offset) == ("unknown field 'wieght'", 5)
