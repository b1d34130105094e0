"""debezium_types.json_text remembers the texts orjson alone reads as the column rules do: the
first and every later call give the value loads_json_text gives, type for type and key order
for key order, as a new object each time; the same error for a text it refuses."""

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators import debezium_types
from engine.operators.debezium_types import _remember_if_plain, json_text
from engine.values import loads_json_text


def _same(a, b) -> bool:
    """``a`` and ``b`` are the same JSON value, type for type (1 is not 1.0, nor -0.0 0.0)."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        return list(a) == list(b) and all(_same(a[key], b[key]) for key in a)
    if kind is list:
        return len(a) == len(b) and all(map(_same, a, b))
    if kind is float:
        return repr(a) == repr(b)
    return a == b

NUMBERS = st.one_of(st.integers(), st.sampled_from([2 ** 64, -(2 ** 63) - 1, 10 ** 20, 12345678901234567890]),
                    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["0.1", "-0.0", "1e400", "1E-400",
                                                                                      "0.30000000000000004", "1.0",
                                                                                      "123456789012345678.12"]))
LEAVES = st.one_of(st.none(), st.booleans(), st.text(max_size=5), NUMBERS)


def text_of(value) -> str:
    if isinstance(value, str) and value[:1] in "-0123456789" and value not in ("", "-"):
        return value  # a number literal as written
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {text_of(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(text_of, value)) + "]"
    return json.dumps(value)


VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                          max_size=3), max_leaves=10)
TEXTS = st.one_of(VALUES.map(text_of), st.sampled_from(['{"a": 1, "a": 2.50}', "[1, 2", "NaN", '{"a": NaN}', "",
                                                         "[" * 200 + "]" * 200, '"\\ud800"', "\ufeff{}", '{"é": "x"}']))


def outcome(function, text):
    try:
        return "value", function(text)
    except Exception as exc:  # noqa: BLE001 - the error is what is compared
        return "error", f"{type(exc).__name__}: {exc}"


@settings(max_examples=500, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=6))
def test_every_call_gives_what_the_column_rules_give(texts):
    debezium_types._PLAIN_JSON.clear()
    for text in texts + texts:  # the second time, maybe from the memory
        kind, expected = outcome(loads_json_text, text)
        got_kind, got = outcome(json_text, text)
        assert got_kind == kind
        if kind == "error":
            assert got == expected
        else:
            assert _same(got, expected), (text, got, expected)
            assert got is not expected or not isinstance(got, (dict, list))


def test_a_remembered_text_gives_a_new_object_each_time():
    debezium_types._PLAIN_JSON.clear()
    first = json_text('{"tags": ["b2b"], "n": 1}')
    second = json_text('{"tags": ["b2b"], "n": 1}')
    assert '{"tags": ["b2b"], "n": 1}' in debezium_types._PLAIN_JSON
    assert first == second and first is not second and first["tags"] is not second["tags"]


def test_texts_with_numbers_orjson_reads_otherwise_are_not_remembered():
    debezium_types._PLAIN_JSON.clear()
    for text in ('{"n": 123456789012345678901234567890}', '{"x": 0.30000000000000004000001}'):
        assert _same(json_text(text), loads_json_text(text)) and text not in debezium_types._PLAIN_JSON


def test_same_tells_types_and_key_order_apart():
    assert not _same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not _same([1], [1.0]) and not _same(-0.0, 0.0) and not _same(True, 1)
    assert _same({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_a_text_is_remembered_only_when_orjson_reads_it_as_the_column_rules_do(text):
    """What the memory holds is read by orjson alone from then on: only a text whose value
    under the column rules is orjson's own value, type for type (the memory's test compares
    orjson's writing of both, in C; this is the walk it replaced)."""
    debezium_types._PLAIN_JSON.clear()
    kind, found = outcome(loads_json_text, text)
    if kind == "error":
        return
    _remember_if_plain(text, found)
    if text in debezium_types._PLAIN_JSON:
        assert _same(orjson.loads(text), found), (text, found)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_orjson_writes_two_values_alike_only_when_they_are_the_same(value):
    """The memory's test against the walk, on values and their look-alikes of other types."""
    for other in (value, json.loads(json.dumps(value)), _retyped(value)):
        try:
            alike = orjson.dumps(value) == orjson.dumps(other)
        except TypeError:
            continue
        assert alike == _same(value, other), (value, other)


def _retyped(value):
    """``value`` with its ints as floats, floats as ints, True as 1 and -0.0 as 0.0."""
    if isinstance(value, dict):
        return {k: _retyped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_retyped(v) for v in value]
    if value is True:
        return 1
    if isinstance(value, float):
        return 0.0 if value == 0 else int(value) if value.is_integer() and abs(value) < 2 ** 63 else value
    if isinstance(value, int):
        return float(value) if abs(value) < 2 ** 53 else value
    return value

