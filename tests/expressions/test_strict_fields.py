"""``Expression.strict()``: fields read as ``e[name]`` (and a nested one as ``obj[name]`` once
its parent is an object) give exactly the lenient values on events that carry every field
read, and KeyError on one that lacks one (the filter and map steps then do the batch the
lenient way: engine/operators/codegen.FirstTry)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expressions import _lambda, compile_expression
from engine.operators.filter import Filter
from engine.operators.map import Map

EXPRESSIONS = [
    "a", "a + b", "a > 1 and b != 'x'", "a is null or b is not null", "coalesce(a, b, 0)", "not (a > b)",
    "c.d", "c.d.e == 1", "if(a > 0, b, c)", "a in [1, 2, 3]", "upper(b) == 'X' or a * 2 > 3", "c",
    "'e.get(1)' == b", "length(b) > 1", "a / 2 >= 1",
]
INNER = st.fixed_dictionaries({}, optional={"e": st.integers(0, 2)})  # c.d, with or without e
VALUES = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["x", "X", "ab", ""]), st.decimals(-5, 5, places=1),
                   st.fixed_dictionaries({}, optional={"d": st.one_of(st.none(), st.integers(0, 2), INNER)}),
                   st.booleans())
EVENTS = st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3)


def outcome(function, event):
    try:
        return "value", function(event)
    except Exception as exc:  # noqa: BLE001 - compared by kind
        return "raised", type(exc).__name__


@pytest.mark.parametrize("text", EXPRESSIONS)
@settings(max_examples=150, deadline=None)
@given(event=EVENTS)
def test_strict_reads_give_the_lenient_value_or_key_error(text, event):
    try:
        expression = compile_expression(text)
    except Exception:  # noqa: BLE001 - a function this list names that does not exist: the list is wrong
        pytest.fail(f"{text!r} does not compile")
    python, test = expression.strict()
    for strict, lenient in ((_lambda(python), expression), (_lambda(test), expression.holds)):
        got, expected = outcome(strict, event), outcome(lenient, event)
        if expression.fields <= set(event) and not _lacks_a_nested_field(event):
            if expected[0] == "value" and lenient is expression.holds:
                got = ("value", bool(got[1])) if got[0] == "value" else got
            assert repr(got) == repr(expected), (text, event)
        elif got[0] == "raised":
            assert got[1] in ("KeyError", expected[1]), (text, event, got, expected)
        else:  # a field not reached (and/or short-circuit): the same value
            assert repr(got) == repr(expected if lenient is expression else ("value", bool(expected[1]))), (text, event)


def _lacks_a_nested_field(event) -> bool:
    """Whether ``c`` is an object without ``d``, or ``c.d`` one without ``e`` (what the
    expressions above read inside ``c``)."""
    c = event.get("c")
    return type(c) is dict and ("d" not in c or (type(c["d"]) is dict and "e" not in c["d"]))


def test_filter_and_map_give_the_lenient_result_when_a_batch_lacks_a_field():
    keep = Filter("f", "a > 1", None)
    shape = Map("m", {"fields": {"x": "a", "y": "coalesce(b, 'none')"}}, None)
    full = [{"a": 2, "b": "u"}, {"a": 1, "b": None}, {"a": 5, "b": "v"}]
    lacking = [{"a": 2, "b": "u"}, {"a": 3}, {"b": "w"}]
    for _ in range(2 * 8 + 2):  # past FirstTry's pause and back
        assert keep.process(full) == ([full[0], full[2]], [])
        assert keep.process(lacking) == ([lacking[0], lacking[1]], [])
        assert shape.process(full) == ([{"x": 2, "y": "u"}, {"x": 1, "y": "none"}, {"x": 5, "y": "v"}], [])
        assert shape.process(lacking) == ([{"x": 2, "y": "u"}, {"x": 3, "y": "none"}, {"x": None, "y": "w"}], [])
