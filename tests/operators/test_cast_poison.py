"""cast (issue 11): whatever a value is, the event comes out converted or goes to the dead
letters with the field, the value and the reason, carrying the event as it arrived; a bad event
costs its own slow path, not the batch's."""

import copy
import math
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.cast import Cast
from engine.values import converter

UTC = timezone.utc


def cast(events, fields, **options):
    oks, deads = Cast("c", {"fields": fields, **options}, None).process(events)
    return oks, [(d.event, d.error) for d in deads], deads


@pytest.mark.parametrize("type_name,value,reason", [
    ("timestamp(s)", 99999999999999999, "99999999999999999 s since 1970 is not a timestamp between the years 1 and 9999"),
    ("timestamp(ms)", -10 ** 20, "is not a timestamp between the years 1 and 9999"),
    ("timestamp(us)", 1e300, "is not a timestamp between the years 1 and 9999"),
    ("timestamp(ms)", float("nan"), "is not a timestamp between the years 1 and 9999"),
    ("timestamp(ms)", float("inf"), "is not a timestamp between the years 1 and 9999"),
    ("timestamp(s)", Decimal("1e999999"), "is not a timestamp between the years 1 and 9999"),
    ("timestamp(s)", "99999999999999999", "is not a timestamp between the years 1 and 9999"),
    ("timestamp", "0001-01-01T00:30:00+01:00", "out of range (years 1 to 9999 in UTC)"),
    ("timestamp", "9999-12-31T23:30:00-01:00", "out of range (years 1 to 9999 in UTC)"),
    ("json", "[" * 100_000, "nested deeper than 128 levels"),
    ("json", "[" * 100_000 + "]" * 100_000, "nested deeper than 128 levels"),
    ("json", '{"a": NaN}', "NaN is not a JSON number"),
    ("json", "9" * 5000, "Exceeds the limit (4300 digits)"),  # (400 digits: an int, as jsonb's numeric holds it)
    ("int", "1_000", "invalid literal for int()"),
    ("int", "\u0661\u0662", "invalid literal for int()"),  # Arabic-Indic digits: int() alone takes them
    ("int", "9" * 5000, "more than 4300 characters"),
    ("int", Decimal("1e999999"), "more than 4300 digits"),
    ("int", float("inf"), "not a finite number"),
    ("int", Decimal("NaN"), "not a finite number"),
    ("float", "nan", "not a finite number"), ("float", "-Infinity", "not a finite number"),
    ("float", "1e400", "not a finite number"), ("float", "1_0.5", "invalid literal for float()"),
    ("float", 10 ** 400, "too large for a float"),
    ("decimal(10,2)", "1e999999999", "does not fit decimal(10,2)"),
    ("decimal(3,2)", "9.995", "does not fit decimal(3,2)"),
    ("decimal(10,2)", "1_000", "not a number"),
    ("decimal(10,2)", "Infinity", "not a finite number"),
    ("decimal(10,2)", [1], "not a number"),
    ("date", "2024-13-45", "month must be in 1..12"),
    ("bool", {"a": 1}, "expected true/false"),
])
def test_a_value_no_converter_takes_is_a_dead_letter_with_the_reason(type_name, value, reason):
    event = {"id": 1, "v": value}
    oks, deads, letters = cast([{"id": 0, "v": None}, event], {"v": type_name})
    assert oks == [{"id": 0, "v": None}]
    assert len(deads) == 1 and letters[0].event is event
    assert deads[0][1].startswith(f"cannot cast field 'v' value ") and reason in deads[0][1], deads[0][1]
    assert len(deads[0][1]) < 400 and "\n" not in deads[0][1]


@pytest.mark.parametrize("type_name,value,expected", [
    ("json", '{"id": 1234567890123456789012345}', {"id": 1234567890123456789012345}),
    ("json", "-1234567890123456789012345", -1234567890123456789012345),  # a scalar too
    ("json", '["' + "1" * 30 + '", 1.5]', ["1" * 30, 1.5]),
    ("int", "12345678901234567890123", 12345678901234567890123),
    ("int", " -5 ", -5),
    ("decimal(38,2)", "123456789012345678901234567890123456.125", Decimal("123456789012345678901234567890123456.13")),
    ("decimal(3,2)", "9.994", Decimal("9.99")),
    ("decimal(38,2)", "9" * 36 + ".5", Decimal("9" * 36 + ".50")),  # 38 digits: no 28-digit rounding anywhere
    ("timestamp(ms)", "-1.5", datetime(1969, 12, 31, 23, 59, 59, 998500, tzinfo=UTC)),
    ("timestamp(s)", 253402300799, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("timestamp(us)", -62135596800000000, datetime(1, 1, 1, tzinfo=UTC)),
    ("timestamp(ms)", 1.5e12, datetime(2017, 7, 14, 2, 40, tzinfo=UTC)),
])
def test_edge_values_that_fit_are_converted_exactly(type_name, value, expected):
    assert converter(type_name)(value) == expected


def test_events_that_are_not_objects_are_dead_letters():
    events = [[("v", "1")], "text", None, 5, {"v": "2"}]
    oks, deads, _ = cast(events, {"v": "int"})
    assert oks == [{"v": 2}]
    assert [e for e, _ in deads] == events[:4]
    assert [r for _, r in deads] == ["expected an object, got list", "expected an object, got str",
                                     "expected an object, got NoneType", "expected an object, got int"]


# --- the fast path resumes after a bad event ----------------------------------------------------

@pytest.mark.parametrize("bad_at", [[], [0], [7], [19], [0, 1, 2], [3, 9, 10, 19], list(range(20))])
def test_a_bad_event_is_redone_alone_and_the_batch_goes_on(monkeypatch, bad_at):
    step = Cast("c", {"fields": {"n": "int", "a.w": "decimal(6,1)"}}, None)
    alone = []
    real = step._by_event
    monkeypatch.setattr(step, "_by_event", lambda batch: alone.append(len(batch)) or real(batch))
    events = [{"n": str(i), "a": {"w": "1.25"}} for i in range(20)]
    for i in bad_at:
        events[i] = {"n": f"x{i}", "a": {"w": "1.25"}}
    pristine = copy.deepcopy(events)
    oks, deads = step.process(events)
    assert [o["n"] for o in oks] == [i for i in range(20) if i not in bad_at]
    assert [d.event for d in deads] == [events[i] for i in bad_at] and all(d.event is events[i] for d, i in zip(deads, bad_at))
    assert alone == [1] * len(bad_at)  # only the bad events took the slow path, one at a time
    assert events == pristine


def test_the_original_event_is_the_dead_letter_even_when_a_later_field_fails():
    events = [{"a": {"x": "1", "y": "bad"}, "b": "2"}]
    pristine = copy.deepcopy(events)
    for fields in ({"a.x": "int", "a.y": "int"}, {"b": "int", "a.y": "int"}):
        oks, deads, letters = cast(events, fields)
        assert oks == [] and letters[0].event is events[0] and events == pristine


def test_on_error_null_never_modifies_the_input():
    events = [{"a": {"x": "oops", "y": "2"}, "t": 10 ** 20}]
    pristine = copy.deepcopy(events)
    oks, deads, _ = cast(events, {"a.x": "int", "a.y": "int", "t": "timestamp(s)"}, on_error="null")
    assert oks == [{"a": {"x": None, "y": 2}, "t": None}] and deads == [] and events == pristine


# --- properties ---------------------------------------------------------------------------------

anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-10 ** 30, max_value=10 ** 30)
    | st.floats() | st.decimals() | st.text(max_size=12)
    | st.sampled_from(["1", " 42 ", "1_000", "2.5", "NaN", "1e999999999", "2024-03-01", "2024-03-01T10:00:00Z",
                       "0001-01-01T00:30:00+01:00", "[1, 2]", '{"a": 1}', "[" * 300, "true", "yes"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["x", "y", "w"]), inner, max_size=3),
    max_leaves=6)
TYPES = ["int", "float", "bool", "str", "json", "timestamp", "timestamp(s)", "timestamp(ms)", "timestamp(us)",
         "date", "decimal(10,2)", "decimal(3,0)"]
field_sets = st.dictionaries(st.sampled_from(["x", "y", "a.x", "a.w", "a.b.x"]), st.sampled_from(TYPES), min_size=1, max_size=4)
events = st.one_of(st.dictionaries(st.sampled_from(["x", "y", "a", "z"]), anything, max_size=4), anything)


def _reference(fields: dict, event, to_null: bool = False):
    """One event cast the simple way: the converted copy, or None when some field fails
    (with ``on_error: null``, that field is null instead)."""
    if type(event) is not dict:
        return None
    out = copy.deepcopy(event)
    for path, type_name in fields.items():
        keys = path.split(".")
        node = out
        for key in keys[:-1]:
            node = node.get(key) if type(node) is dict else None
        if type(node) is not dict or node.get(keys[-1]) is None:
            continue
        try:
            node[keys[-1]] = converter(type_name)(node[keys[-1]])
        except ValueError:
            if not to_null:
                return None
            node[keys[-1]] = None
    return out


def _same(left, right) -> bool:
    """Equality where NaN equals NaN (a float NaN passes a float cast unchanged)."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return True
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, Decimal) and left.is_nan():
        return right.is_nan()
    return left == right


@settings(max_examples=400, deadline=None)
@given(field_sets, st.lists(events, max_size=12), st.booleans())
def test_cast_never_raises_accounts_for_every_event_and_agrees_with_casting_one_by_one(fields, batch, to_null):
    pristine = copy.deepcopy(batch)
    oks, deads = Cast("c", {"fields": fields, **({"on_error": "null"} if to_null else {})}, None).process(batch)
    assert len(oks) + len(deads) == len(batch)
    assert _same(batch, pristine)  # the input is never modified
    dead_ids = [id(d.event) for d in deads]
    kept = iter(oks)
    for event in batch:
        expected = _reference(fields, event, to_null)
        if id(event) in dead_ids:  # the dead letter carries the very event that arrived
            assert expected is None
            dead_ids.remove(id(event))
        else:
            assert _same(next(kept), expected)
    assert all(d.error.startswith(("cannot cast field", "expected an object")) and "\n" not in d.error for d in deads)
