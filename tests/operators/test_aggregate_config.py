"""aggregate's configuration: errors at the right place, output fields, durations."""

from datetime import timedelta

import pytest

from engine.errors import ConfigError
from engine.operators.aggregate import Aggregate


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


MORE_CONFIG_ERRORS = [
    ({"compute": {"n": "count()"}, "window": {"count": 0}}, ("window", "count"),
     "a count window needs a positive whole number of events, not 0"),
    ({"compute": {"n": "count()"}, "window": {"count": 5, "event_time": "t"}}, ("window", "event_time"),
     "count windows do not use 'event_time'"),
    ({"compute": {"n": "count()"}, "window": {"allowed_lateness": "5s"}}, ("window",), "the window needs a kind"),
    ({"compute": {"n": "count()"}, "window": {"tumbling": "0s"}}, ("window", "tumbling"), "duration '0s' must be positive"),
    ({"compute": {"n": "count()"}, "window": {"session": {"gap": "5x"}}}, ("window", "session", "gap"),
     "invalid duration '5x'"),
    ({"compute": {"n": "count()"}, "window": {"tumbling": "5s", "time": "processing", "event_time": "t"}},
     ("window", "event_time"), "'event_time' is ignored with time: processing"),
]


@pytest.mark.parametrize("config,path,message", MORE_CONFIG_ERRORS, ids=[c[2] for c in MORE_CONFIG_ERRORS])
def test_more_configuration_errors(config, path, message):
    with pytest.raises(ConfigError) as caught:
        Aggregate("agg", config, None)
    assert (caught.value.path, caught.value.message) == (path, message)


def test_an_unknown_aggregation_points_at_its_name():
    with pytest.raises(ConfigError) as caught:
        Aggregate("agg", {"compute": {"kg": "  summ(x)"}}, None)
    assert (caught.value.path, caught.value.offset, caught.value.hint) == (("compute", "kg"), 2, "did you mean 'sum'?")


def test_event_time_must_be_a_timestamp():
    with pytest.raises(ConfigError) as caught:
        Aggregate("agg", {"compute": {"n": "count()"}, "window": {"tumbling": "5s", "event_time": "n"}}, {"n": "int"})
    assert (caught.value.path, caught.value.message) == (("window", "event_time"), "event_time must be a timestamp, not int")


def test_output_fields_of_an_expression_key_and_a_count_window():
    agg = Aggregate("agg", {"key": "upper(s)", "compute": {"c": "count(x)", "xs": "collect(x)", "f": "first(x)"},
                            "window": {"count": 3}}, {"s": "str", "x": "int"})
    assert agg.output_fields == {"key": "str", "window_index": "int", "c": "int", "xs": "json", "f": "int", "_key": "str"}


def test_durations():
    from engine.durations import parse_duration

    assert [parse_duration(t) for t in ("500ms", "1.5s", "2m", "1h", "1d")] == [
        timedelta(milliseconds=500), timedelta(seconds=1.5), timedelta(minutes=2), timedelta(hours=1), timedelta(days=1)]
    with pytest.raises(ValueError, match="invalid duration '5'"):
        parse_duration("5")
