"""Load-time problems are expression errors at an offset (validation errors), never a crash
or a hang: folded literal calls, literals out of range, expressions nested too deeply."""

import pytest

from engine.expressions import ExpressionError, compile_expression
from engine.expressions.parser import MAX_DEPTH

LOAD_TIME = [  # each crashed validation with a Python exception, or hung it
    ("from_epoch(1e20)", 0, "from_epoch(): 1e+20 s since 1970 is not a timestamp between the years 1 and 9999"),
    ("json_parse('" + "[" * 5000 + "')", 0, "json_parse(): "),
    ("matches('" + "a" * 40 + "!', '^(a+)+$') or true", None, None),  # folds in microseconds
    ("matches(s, null)", None, None),
    ("t > '9999-12-31T23:59:59-01:00'", 4, "'9999-12-31T23:59:59-01:00' is not a valid timestamp: "),
    ("9" * 5000, 0, "number too long (5000 digits, at most 4300)"),
    (" + ".join(["n"] * 300), 0, "expression too complex to compile: a chain of 300 operands"),  # flat, but capped
    (" + ".join(["n"] * 200), None, None),  # a long chain is one level: it compiles
    ("(" * 2000 + "n" + ")" * 2000, MAX_DEPTH, f"expression nested too deeply (more than {MAX_DEPTH} levels)"),
    ("not " * 2000 + "b", None, f"expression nested too deeply (more than {MAX_DEPTH} levels)"),
    ("-" * 5000 + "n", None, f"expression nested too deeply (more than {MAX_DEPTH} levels)"),
    ("coalesce(" + ", ".join(["n"] * 300) + ")", 0, "expression too complex to compile"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text,offset,message", LOAD_TIME, ids=[t[0][:30] for t in LOAD_TIME])
def test_load_time_problems_are_expression_errors_never_crashes(text, offset, message):
    fields = {"n": "int", "s": "str", "b": "bool", "t": "timestamp"}
    if message is None:
        compile_expression(text, fields)
        return
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, fields)
    assert caught.value.message.startswith(message) and "\n" not in caught.value.message
    if offset is not None:
        assert caught.value.offset == offset


def test_the_deepest_allowed_expressions_compile():
    fields = {"n": "int", "b": "bool", "s": "str"}
    for text in [" + ".join(["n"] * MAX_DEPTH), " and ".join(["b"] * MAX_DEPTH), "upper(" * (MAX_DEPTH - 1) + "s" + ")" * (MAX_DEPTH - 1),
                 "if(b, 1, " * (MAX_DEPTH - 1) + "2" + ")" * (MAX_DEPTH - 1), "(" * (MAX_DEPTH - 1) + "n" + ")" * (MAX_DEPTH - 1)]:
        for known in (fields, None):
            assert compile_expression(text, known) is not None
