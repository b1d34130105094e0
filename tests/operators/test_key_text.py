"""A key's text is the expression language's ``str()`` of the key value (``values.to_str``:
``true``, ISO 8601, compact JSON), on every path that makes one: ``key_text``, a ``map``'s key
(its generated code, both forms), the keyed steps' grouping and results, the joins' groups,
``merge_transactions``' key function and the Kafka sink's message key. Python's ``str`` gave
``True``, ``2024-01-01 00:00:00+00:00`` and ``{'a': 1}``, texts no expression can name."""

import zlib
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expressions import compile_expression
from engine.operators.aggregate import Aggregate
from engine.operators.joins.interval import IntervalJoin
from engine.operators.joins.stream_table import StreamTableJoin
from engine.operators.key import Key
from engine.operators.map import Map, key_text
from engine.operators.micro_batch import MicroBatch
from engine.operators.transaction_net import key_function
from engine.operators.with_previous import WithPrevious
from tests.connectors.test_kafka_batch_encoder import _sink

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
STR = compile_expression("str(k)")

scalars = st.one_of(
    st.booleans(), st.integers(), st.just(10 ** 30), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4), st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.datetimes(timezones=st.just(timezone.utc)), st.dates())
jsonish = st.recursive(st.one_of(st.none(), scalars), lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)
keys = st.one_of(scalars, jsonish.filter(lambda v: v is not None))


def language(value) -> str:
    """What ``str(k)`` gives in an expression."""
    return STR.function({"k": value})


def test_the_texts_python_gave_are_gone():
    assert [key_text(v) for v in (True, False, datetime(2024, 1, 1, tzinfo=timezone.utc), {"a": 1}, [1, None])] \
        == ["true", "false", "2024-01-01T00:00:00+00:00", '{"a":1}', "[1,null]"]
    assert [key_text(v) for v in ("a", 7, None, 1.5, Decimal("1.50"), date(2024, 1, 2))] \
        == ["a", "7", None, "1.5", "1.50", "2024-01-02"]


@PROPERTY
@given(keys)
def test_key_text_and_a_maps_key_are_the_languages_str(value):
    text = language(value)
    assert key_text(value) == text
    event = {"k": value, "n": 1}
    for step in (Map("m", {"key": "k", "fields": {"n": "n"}}, None),  # the dict literal, strict and not
                 Map("m", {"key": "k", "keep": "all", "drop": ["n"]}, None), Key("key", "k", None)):
        assert step.process([event])[0][0]["_key"] == text
        assert step.process([{"n": 1}, event])[0][1]["_key"] == text  # a batch the strict form refuses
    assert key_function(compile_expression("k"), "m")(event) == text


@PROPERTY
@given(keys)
def test_keyed_steps_group_and_name_by_the_languages_str(value):
    text = language(value)
    event = {"k": value, "at": T0}
    aggregate = Aggregate("a", {"key": "k", "compute": {"n": "count()"}, "emit": "final"}, None)
    for step in (aggregate, WithPrevious("p", {"key": "k"}, None)):
        assert [key for key, _ in step.group([event])[0]] == [text]  # aggregate: the fused grouper
        assert [key for key, _ in step.group([event, {"k": None}])[0]] == [text]  # group_by_key
    assert aggregate.result(value, [1])["_key"] == text
    chunk = MicroBatch("mb", {"key": "k", "every": "1s", "chunks": 7}, None).group([event])[0][0][0]
    assert chunk == str(zlib.crc32(text.encode("utf-8", "surrogatepass")) % 7)


@PROPERTY
@given(keys)
def test_the_joins_group_both_sides_by_the_languages_str(value):
    text = language(value)
    table = StreamTableJoin("j", {"table": "t", "on": "k", "table_key": "k", "fields": {"n": "n"}}, None,
                            {"table": None})
    rows = StreamTableJoin("j", {"table": "t", "on": "k", "table_key": "k", "changelog": "rows"}, None,
                           {"table": None})
    assert [key for key, _ in table.group_events([{"k": value}])[0]] == [text]
    assert [key for key, _ in table.group_table([{"k": value, "n": 1}])[0]] == [text]  # generated upserts
    assert [key for key, _ in table.group_table([{"k": value, "n": 1}, {"k": None}])[0]] == [text]
    assert [key for key, _ in rows.group_table([{"op": "c", "after": {"k": value}}])[0]] == [text]
    interval = IntervalJoin("ij", {"with": "s", "on": "k", "with_key": "k", "time": "at", "with_time": "at",
                                   "before": "1m", "after": "1m", "fields": {}}, None, {"with": None})
    event = {"k": value, "at": T0 + timedelta(seconds=1)}
    assert [key for key, _ in interval.group([event])[0]] == [key for key, _ in interval.group_side([event])[0]] \
        == [text]


@PROPERTY
@given(keys)
def test_a_kafka_message_key_from_a_maps_key_is_the_languages_str(value):
    event = Map("m", {"key": "k", "fields": {"n": "1"}}, None).process([{"k": value}])[0][0]
    _, key, _, _ = _sink(max_bytes=10 ** 6).encoder()(event)
    assert key == language(value).encode()
