"""The written-out ``str`` and ``concat`` (engine/expressions/inline.py), and conditions
``x == literal`` without a null guard, give exactly what the plain translation gives
(``compile_expression(..., inline=False)``): the same values, the same errors with the same
messages, for adversarial values, typed or untyped fields, lenient or strict.
So do the ids' texts (``uuid5``, ``sha256``), against the generator they were built with."""

import hashlib
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import values
from engine.expressions import _lambda, compile_expression, functions

EXPRESSIONS = [
    "concat(a, b)", "concat(a, '/', b, '/', c)", "concat(a)", "concat('x', a, 5, null, 1.5, true, '')",
    "concat(a.x, b)", "concat(coalesce(a, b), '-', c ?? 'none')", "concat(a, int(b))", "concat(str(a), b)",
    "concat(a + 1, b)", "concat(a, b is null, [1, c])", "concat(a, 123456789012345678901234567890)",
    "concat(a, 'é€😀', b)", "concat(null, a)", "concat(a, b) == 'xy'", "length(concat(a, b, c))",
    "str(a)", "str(coalesce(a, b))", "str(a) + ':' + str(b)", "str(a.x)", "str(a.x.y)", "str(5)",
    "if(a == 'x', concat(b, c), str(c))", "c + ':' + if(a == 'o', concat(a, '/', b), str(coalesce(b, c)))",
    "upper(str(a))", "str(a) == str(b)",
    # comparisons with a literal in conditions: 'x == lit' unguarded (null is not equal)
    "a == 'x'", "not (a != 'x')", "not (a == 'x')", "a != 'x'", "a.x == 1", "if(a == 5, b, c)", "a == b",
    "a == 1.5 and b == 'o'", "a == 12345678901234567890 or b == -0.0", "'x' == a", "a.x.y == true",
    "not (a == 'x' or b != 2)",
    # fields read more than once: later reads reuse the first where it surely ran (reuse.py)
    "if(a == 'x', a, b)", "coalesce(a, a)", "a ?? b ?? a", "if(a > 1, a, a + 1)", "a.x == 1 or a.x == 2",
    "not (a == b and a != c)", "concat(a, a, b.x, b.y)", "if(b is null, a, b) == a", "[a, a, b]",
    "a in [1, 2] and a != b", "length(a) + length(a)", "a.x.y ?? a.x", "b[a] ?? c[a]", "(a ?? b) + (b ?? a)",
    "if(coalesce(a, b) == 'x', b, coalesce(b, a))", "upper(a) == 'X' or lower(a) == 'x' or a is null",
    # ... rewritten in the text at the nodes' positions, which count UTF-8 bytes
    "if(a == 'é😀', a, concat('€', a, b.x, b.y))", "concat('😀😀', a.x, '\\n', a.y) ?? concat(a, 'é')",
    # the ids' text written out: '' for null, literals made at compile time
    "uuid5(a)", "uuid5(a, b)", "uuid5('x', a, null, 5, b, '')", "uuid5(a, b.x, c ?? 'n', a)", "sha256(a, b, c)",
    "sha256('é😀', null, a)", "uuid5(a, int(b))", "uuid5(null)", "uuid5(a, 123456789012345678901234567890, 1.5)",
    "uuid5(a, b) == uuid5(c, b)", "concat(uuid5(a), sha256(b))",
    # an argument whose type is known only per event: checked inline when one Python type fits
    "upper(b)", "lower(a.x) == 'x'", "substr(a, b, 2)", "epoch(b)", "length(b)", "str(b) == '5'",
    "upper(b) == lower(b.x)", "trim(a ?? b)",
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
                got, expected = outcome(_lambda(fast_src), event), outcome(_lambda(plain_src), event)
                if expected[:2] == ("raised", "KeyError"):  # a nested field missing: the caller's lenient
                    assert got[0] == "raised", (text, event)  # code decides, whatever either raised first
                else:
                    assert got == expected, (text, event)


def test_inline_is_used_and_the_plain_translation_keeps_the_calls():
    text = "concat(a, '/', b ?? c)"
    fast, plain = compile_expression(text), compile_expression(text, inline=False)
    assert "_f_concat" not in fast.python and "''.join" in fast.python and "_f_concat" in plain.python
    assert compile_expression("concat(a, int(b))").python.startswith("_f_concat(")  # int() may raise: the call stays
    assert compile_expression("concat(a, '-', 7, null)")({"a": Decimal("1.50")}) == "1.50-7"
    checked = compile_expression("upper(b)").python  # the check's call only for a value of another type
    assert checked.count("_check(") == 1 and " else _check(" in checked
    assert "_str(" in compile_expression("str(b)").python  # an int's text without to_str's call


def test_the_ids_text_is_written_out_where_concat_would_be():
    assert "_f_uuid5" not in compile_expression("uuid5('t', a, b.x, c)").python
    assert "_f_sha256" not in compile_expression("sha256(a, null)").python
    assert compile_expression("uuid5(a, int(b))").python.startswith("_f_uuid5(")  # int() may raise: the call stays
    assert compile_expression("uuid5(a, null, 'x')")({"a": 7}) == str(uuid.uuid5(uuid.NAMESPACE_URL, "7\x1f\x1fx"))


ANY_TEXT = st.one_of(st.text(), st.text(alphabet=st.characters(min_codepoint=0xD780, max_codepoint=0xE080)),
                     st.sampled_from(["", "\ud800", "a\udfff", "\x1f", "\x00", "é€😀"]))


@settings(max_examples=500, deadline=None)
@given(text=ANY_TEXT)
def test_uuid5_of_is_the_uuid_modules_uuid5(text):
    """Any text, with lone surrogates (UTF-8 cannot encode them: both raise) and empty."""
    assert outcome(lambda _: functions.uuid5_of(text), None) == \
        outcome(lambda _: str(uuid.uuid5(uuid.NAMESPACE_URL, text)), None)
    assert outcome(lambda _: functions.sha256_of(text), None) == \
        outcome(lambda _: hashlib.sha256(text.encode()).hexdigest(), None)


def test_calling_an_expression_calls_its_function():
    expression = compile_expression("a + 1")
    assert expression({"a": 1}) == 2 == expression.function({"a": 1})
    with pytest.raises(TypeError, match="positional argument"):
        expression({"a": 1}, {})  # type: ignore[call-arg]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(VALUES, max_size=5))
def test_id_text_and_ids_as_before(parts):
    def before():  # _id_text as it was: a generator over to_str
        return "\x1f".join("" if p is None else values.to_str(p) for p in parts)

    assert outcome(lambda _: functions._id_text(parts), None) == outcome(lambda _: before(), None)
    try:
        text = before()
    except ValueError:
        return
    assert functions._uuid5(*parts) == str(uuid.uuid5(uuid.NAMESPACE_URL, text))
    assert functions._sha256(*parts) == hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def test_a_field_is_read_once_where_it_surely_was_read():
    from engine.expressions.reuse import reuse_reads

    row = compile_expression("a + ':' + if(a == 'o', concat(b.x, '/', b.y), str(coalesce(b.z, c.z)))")
    assert row.python.count("e.get('a')") == 1 and row.python.count("e.get('b')") == 2  # b.z: another branch
    assert compile_expression("if(a == 'x', b, c) ?? b").python.count("e.get('b')") == 2  # b: not sure to have run
    wide = compile_expression("if(a == 'é😀', a, concat('€', a, b.x, '😀', b.y))").python  # columns count bytes
    assert wide.count("e.get('a')") == 1 and wide.count("e.get('b')") == 1 and "'é😀'" in wide and "'😀'" in wide
    for src in ("e.get('a')", "(e.get('a'), [e.get('a') for _ in ()])", "(e.get('a'), (lambda: e.get('a')))"):
        assert reuse_reads(src) == src  # nothing to reuse, or code the translator does not make
