"""Sinks encode each event before the batch goes out: exact values or a clear Unwritable."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from engine.connectors.jsonl import MAX_DEPTH, Unwritable, encode_event, encode_value
from engine.connectors.kafka_sink import KafkaSink

ints = st.integers(min_value=-(10 ** 40), max_value=10 ** 40)
leaves = st.none() | st.booleans() | ints | st.text(max_size=8) | st.floats(allow_nan=False, allow_infinity=False)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
                      max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), values, max_size=6))
def test_any_json_value_with_integers_of_any_size_round_trips_exactly(event):
    line = encode_event(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == event  # the stdlib reads big integers exactly


def _nested(depth):
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_nesting_beyond_the_writers_limit_is_refused_with_the_reason():
    assert encode_value(_nested(MAX_DEPTH)) == b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    with pytest.raises(Unwritable, match="nested deeper than 254 levels"):
        encode_event({"doc": _nested(MAX_DEPTH + 1)})
    with pytest.raises(Unwritable, match="nested deeper than 254 levels"):  # also on the big-int path
        encode_event({"n": 10 ** 30, "doc": _nested(MAX_DEPTH + 5)})


def test_lone_surrogates_are_refused_and_decimals_stay_exact():
    with pytest.raises(Unwritable, match="lone surrogate"):
        encode_event({"s": "\ud800"})
    assert encode_event({"d": Decimal("12.30"), "n": 2 ** 64}) == b'{"d":12.30,"n":18446744073709551616}\n'


def test_kafka_messages_are_encoded_or_refused_per_event():
    encode = KafkaSink("127.0.0.1:1", topic="t", settings={"message.max.bytes": 1000}).encoder()
    assert encode({"a": 1, "_key": 5, "_headers": {"h": 1}, "_meta": {"x": 1}}) == ("t", b"5", b'{"a":1}', [("h", b"1")])
    assert encode({"a": 10 ** 30, "_topic": "u"}) == ("u", None, b'{"a":1000000000000000000000000000000}', None)
    for event, reason in [({"a": "x" * 1000}, "over message.max.bytes"), ({"_headers": [1]}, "headers must be an object"),
                          ({"doc": _nested(300)}, "nested deeper")]:
        with pytest.raises(Unwritable, match=reason):
            encode(event)
    with pytest.raises(Unwritable, match="no topic"):
        KafkaSink("127.0.0.1:1").encoder()({"a": 1})
