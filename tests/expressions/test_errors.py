"""Bad expressions are refused at load time with the exact offset, message and hint."""

import pytest

from engine.expressions import ExpressionError, compile_expression

FIELDS = {"n": "int", "s": "str", "t": "timestamp", "d": "date", "p": "decimal(10,2)", "f": "float", "b": "bool"}

ERRORS = [
    ("n >", 3, "expected a value, found the end of the expression", None),
    ("n > > 1", 4, "expected a value, found '>'", None),
    ("(n > 1", 6, "expected ')' to close '(', found the end of the expression", None),
    ("n = 1", 2, "unexpected '='", "use '==' to compare"),
    ("n > 1 && b", 6, "unexpected '&&'", "use 'and'"),
    ("!b", 0, "unexpected '!'", "use 'not' (or '!=' to compare)"),
    ("s == 'abc", 5, "unterminated string", "close it with '"),
    ("s == 'a\\q'", 7, "unknown escape '\\q' in string", "escapes: \\n \\t \\r \\\\ \\' \\\""),
    ("n $ 1", 2, "unexpected character '$'", None),
    ("1 < n < 3", 6, "comparisons do not chain; combine them with 'and', found '<'", None),
    ("nn > 1", 0, "unknown field 'nn'", "did you mean 'n'?"),
    ("uper(s)", 0, "unknown function 'uper'", "did you mean 'upper'?"),
    ("upper(s, s)", 0, "upper() takes 1 argument, got 2", "upper: upper case"),
    ("substr(s)", 0, "substr() takes 2 to 3 arguments, got 1", None),
    ("upper(n)", 6, "upper() needs str as argument 1, got int", "upper: upper case"),
    ("n > 'x'", 0, "cannot compare int with str", "convert with str(x), or the text with int(...), timestamp(...), ..."),
    ("t > d", 0, "cannot compare timestamp with date", "convert the timestamp with date(t)"),
    ("p + f", 0, "cannot apply '+' to decimal(10,2) and float", "convert one side: decimal(x) or float(x)"),
    ("s + n", 0, "cannot apply '+' to str and int", "to join text use concat(a, b) or str(x)"),
    ("n == null", 0, "'==' with null is always null", "use 'is null' or 'is not null'"),
    ("n and b", 0, "'and' needs a boolean, got int", "compare it, e.g. x != 0 or x is not null"),
    ("not s", 4, "'not' needs a boolean, got str", "compare it, e.g. x != 0 or x is not null"),
    ("t > 'yesterday'", 4, "'yesterday' is not a valid timestamp: not an ISO-8601 timestamp: 'yesterday'", None),
    ("matches(s, '(')", 11, "matches(): invalid regular expression: missing ): (",
     "RE2 syntax: no backreferences or lookaround; see docs/expressions.md"),
    ("time_trunc(t, 'week')", 14, "time_trunc(): unknown unit 'week'; units: second, minute, hour, day, month, year", None),
    ("int('x')", 0, "int(): invalid literal for int() with base 10: 'x'", None),
    ("s.x", 0, "field 's' is str: it has no field 'x'", None),
    ("s in n", 5, "'in' needs a list or a string on the right, got int", "e.g. status in ['NEW', 'PLANNED']"),
    ("if(b, 1)", 0, "if() takes 3 arguments, got 2", "if(condition, then, else)"),
    ("", 0, "empty expression", None),
]


@pytest.mark.parametrize("text,offset,message,hint", ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_error(text, offset, message, hint):
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, FIELDS)
    error = caught.value
    assert (error.offset, error.message) == (offset, message)
    if hint is not None:
        assert error.hint == hint


def test_error_spans_the_offending_text():
    with pytest.raises(ExpressionError) as caught:
        compile_expression("upper(s) == nn", FIELDS)
    assert (caught.value.offset, caught.value.length, caught.value.column) == (12, 2, 13)


def test_a_wrong_runtime_type_names_the_function_and_value():
    expression = compile_expression("upper(x)")
    with pytest.raises(TypeError, match=r"upper\(\) argument 1 needs str, got int 5"):
        expression({"x": 5})
