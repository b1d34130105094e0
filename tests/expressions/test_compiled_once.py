"""An expression compiled again with the same text and fields is the one compiled before
(engine/expressions/__init__.py), and a generated step function's code is compiled once
(engine/operators/codegen.py): the same values as a fresh compile, never a stale one."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.expressions import ExpressionError, compile_expression
from engine.expressions import _compiled as fresh
from engine.expressions.types import OPEN
from engine.operators.codegen import build_function

TEXTS = ["a + 1", "coalesce(a, 0) * 2", "if(a > 1, 'big', 'small')", "str(a) + '/' + str(b)",
         "a == b", "lower(s) == 'x'", "round(d, 1)"]
TYPES = ["int", "any", "decimal(10,2)", "string", "float"]


def _fields():
    return st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b", "d", "s", OPEN]), st.sampled_from(TYPES),
                                                max_size=4))


def _events():
    value = st.one_of(st.none(), st.integers(-10, 10), st.decimals(-5, 5, places=2), st.text(max_size=3))
    return st.fixed_dictionaries({"a": value, "b": value, "d": st.decimals(-5, 5, places=3), "s": st.text(max_size=3)})


def _outcome(function, event):
    try:
        return "value", function(event)
    except Exception as exc:  # noqa: BLE001 - the failure is part of the behaviour compared
        return "error", type(exc).__name__


@given(st.sampled_from(TEXTS), _fields(), _events())
def test_a_remembered_expression_behaves_as_a_fresh_compile(text, fields, event):
    try:
        remembered = compile_expression(text, fields)
    except ExpressionError as exc:
        with pytest.raises(ExpressionError) as again:
            fresh(text, fields, True)
        assert again.value.message == exc.message
        return
    assert compile_expression(text, None if fields is None else dict(fields)) is remembered
    made = fresh(text, fields, True)
    assert (remembered.python, remembered.test, remembered.type, remembered.fields) == \
        (made.python, made.test, made.type, made.fields)
    assert [n.message for n in remembered.notes] == [n.message for n in made.notes]
    assert _outcome(remembered, event) == _outcome(made, event)
    assert remembered.strict() == made.strict()


def test_other_fields_or_types_compile_anew():
    as_int = compile_expression("a + 1", {"a": "int"})
    as_decimal = compile_expression("a + 1", {"a": "decimal(10,2)"})
    assert as_int is not as_decimal and as_int.type != as_decimal.type
    assert compile_expression("a + 1", {"a": "int", OPEN: "any"}) is not as_int
    assert compile_expression("a + 1", {"a": "int"}, inline=False) is not as_int
    assert as_decimal({"a": Decimal("1.50")}) == Decimal("2.50")


def test_the_callers_fields_changed_afterwards_do_not_reach_the_remembered_one():
    fields = {"a": "int"}
    expression = compile_expression("a * 3", fields)
    fields["a"] = "string"
    fields["b"] = "int"
    assert expression.strict() == fresh("a * 3", {"a": "int"}, True).strict()
    assert compile_expression("a * 3", {"a": "int"}) is expression


def test_an_expression_that_fails_is_not_remembered():
    for _ in range(2):
        with pytest.raises(ExpressionError, match="unknown field"):
            compile_expression("nope + 1", {"a": "int"})


def test_a_generated_function_is_built_anew_from_code_compiled_once():
    source = "def f(e):\n    return e * k\n"
    first = build_function("f", source, "step-x", {"k": 2})
    second = build_function("f", source, "step-x", {"k": 3})
    assert first is not second and first.__code__ is second.__code__
    assert (first(5), second(5)) == (10, 15)  # each its own globals
    assert build_function("f", source, "step-y", {"k": 2}).__code__ is not first.__code__  # named by its step


def test_a_function_too_complex_to_compile_fails_every_time():
    source = "def f(e):\n    return " + "(" * 300 + "e" + ")" * 300 + "\n"
    for _ in range(2):
        with pytest.raises(ConfigError, match="too complex"):
            build_function("f", source, "deep", {})
