"""The written-out ``str`` and ``concat`` (engine/expressions/inline.py) give exactly what the
plain calls give (``compile_expression(..., inline=False)``): the same values, the same errors
with the same messages, for adversarial values, typed or untyped fields, lenient or strict."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expressions import _lambda, compile_expression

EXPRESSIONS = [
    "concat(a, b)", "concat(a, '/', b, '/', c)", "concat(a)", "concat('x', a, 5, null, 1.5, true, '')",
    "concat(a.x, b)", "concat(coalesce(a, b), '-', c ?? 'none')", "concat(a, int(b))", "concat(str(a), b)",
    "concat(a + 1, b)", "concat(a, b is null, [1, c])", "concat(a, 123456789012345678901234567890)",
    "concat(a, 'é€😀', b)", "concat(null, a)", "concat(a, b) == 'xy'", "length(concat(a, b, c))",
    "str(a)", "str(coalesce(a, b))", "str(a) + ':' + str(b)", "str(a.x)", "str(a.x.y)", "str(5)",
    "if(a == 'x', concat(b, c), str(c))", "c + ':' + if(a == 'o', concat(a, '/', b), str(coalesce(b, c)))",
    "upper(str(a))", "str(a) == str(b)",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(10 ** 19, 10 ** 21),
    st.builds(lambda sign: sign * 10 ** 5000, st.sampled_from([1, -1])),  # its text form raises ValueError
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-0.0, 0.0, float("nan")]),
    st.decimals(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["x", "o", "", "\u00e9\U0001f600"]),
    st.datetimes(timezones=st.just(timezone.utc)), st.dates(), st.just(datetime(2024, 1, 1)), st.just(date(2024, 1, 1)),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2)),
                      max_leaves=5)
EVENTS = st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3)
TYPED = {"a": "str", "b": "any", "c": "str"}  # typed fields may still hold other values at run time


def outcome(function, event):
    try:
        return "value", repr(function(event))
    except Exception as exc:  # noqa: BLE001 - compared by kind and message
        return "raised", type(exc).__name__, str(exc)


def compiled(text, fields, inline):
    try:
        return compile_expression(text, fields, inline=inline)
    except Exception as exc:  # noqa: BLE001 - a typed field may make the text refused: both ways alike
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("text", EXPRESSIONS)
@settings(max_examples=200, deadline=None)
@given(event=EVENTS)
def test_inline_gives_what_the_calls_give(text, event):
    for fields in (None, TYPED):
        fast, plain = compiled(text, fields, True), compiled(text, fields, False)
        if isinstance(plain, tuple):
            assert fast == plain, text
            continue
        assert outcome(fast, event) == outcome(plain, event), (text, fields, event)
        assert outcome(fast.holds, event) == outcome(plain.holds, event), (text, fields, event)
        if fast.fields <= set(event):  # strict reads: the same where every field is there
            for fast_src, plain_src in zip(fast.strict(), plain.strict(), strict=True):
                assert outcome(_lambda(fast_src), event) == outcome(_lambda(plain_src), event), (text, event)


def test_inline_is_used_and_the_plain_translation_keeps_the_calls():
    text = "concat(a, '/', b ?? c)"
    fast, plain = compile_expression(text), compile_expression(text, inline=False)
    assert "_f_concat" not in fast.python and "''.join" in fast.python and "_f_concat" in plain.python
    assert compile_expression("concat(a, int(b))").python.startswith("_f_concat(")  # int() may raise: the call stays
    assert compile_expression("concat(a, '-', 7, null)")({"a": Decimal("1.50")}) == "1.50-7"


def test_calling_an_expression_calls_its_function():
    expression = compile_expression("a + 1")
    assert expression({"a": 1}) == 2
    with pytest.raises(TypeError, match="positional argument"):
        expression({"a": 1}, {})  # type: ignore[call-arg]
