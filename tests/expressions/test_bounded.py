"""One bad event never stops a flow: each function's work is bounded, and bad input raises
ValueError or TypeError with one line (the step dead-letters that event)."""

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expressions import FUNCTIONS, compile_expression

# Each raised OverflowError, OSError or decimal.InvalidOperation, or ran for minutes. The
# message is matched in part where engine.values (shared with cast) words it.
BAD_INPUT = [
    ("from_epoch(x)", 10 ** 20, "100000000000000000000 s since 1970 is not a timestamp between the years 1 and 9999"),
    ("from_epoch(x)", -1e18, "-1e+18 s since 1970 is not a timestamp between the years 1 and 9999"),
    ("from_epoch(x, 'ms')", "9" * 40, "ms since 1970 is not a timestamp between the years 1 and 9999"),
    ("from_epoch(x)", float("inf"), "inf"),
    ("from_epoch(x)", "²", "'²'"),
    ("int(x)", "9" * 5000, "4300"),
    ("int(x)", float("inf"), ""),
    ("int(decimal(x))", "1e999999", "1.000e+999999 has more than 4300 digits"),  # int() of it took 70 s
    ("floor(x)", float("-inf"), "cannot convert -inf to an integer"),
    ("ceil(decimal(x))", "1e5000", "1.000e+5000 has more than 4300 digits"),
    ("decimal(x)", "n/a", "not a decimal number: 'n/a'"),
    ("decimal(x)", "1e9999999", "1.000e+9999999 is out of range (at most 1E+999999)"),
    ("float(x)", 10 ** 400, "too large for a float"),
    ("round(x, 2)", float("inf"), "cannot round inf to 2 digits"),
    ("round(decimal(x), 5000)", "1.5", "the result would have 5002 digits (at most 4300)"),
    ("minutes(x)", 1e300, "1e+300 minutes is out of range for a duration (at most 999999999 days)"),
    ("days(x)", 10 ** 30, "1000000000000000000000000000000 days is out of range for a duration (at most 999999999 days)"),
    ("json_parse(x)", "[" * 100_000, "nested"),
    ("json_parse(x)", "1" * 5000, ""),
    ("timestamp(x)", "9999-12-31T23:59:59-01:00", "'9999-12-31T23:59:59-01:00' is out of range (years 1 to 9999 in UTC)"),
    ("replace(x, '', 'abcdefgh')", "x" * 2_000_000, "the result would have 18000008 characters (at most 16777216)"),
    ("join(x, 'abcdefghijklmnopq')", ["a"] * 1_000_000, "the result would have more than 16777216 characters"),
    ("upper(x)", 10 ** 5000, "upper() argument 1 needs str, got int <int of 16610 bits>"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text,value,message", BAD_INPUT, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_INPUT)])
def test_bad_input_fails_the_event_fast_with_one_plain_line(text, value, message):
    expression = compile_expression(text)
    start = time.process_time()
    with pytest.raises((ValueError, TypeError)) as caught:
        expression({"x": value})
    assert time.process_time() - start < 1
    assert message in str(caught.value) and str(caught.value) and "\n" not in str(caught.value)


GOOD_INPUT = [  # limits that must not refuse ordinary values
    ("round(x, 2)", 1e30, 1e30), ("round(x, 2)", 2.675, 2.68), ("round(x, -1)", 10 ** 30, 10 ** 30),
    ("round(x, -1)", 15, 20), ("round(x, -3)", 499, 0), ("round(decimal(x), 2)", "1e30", Decimal("1" + "0" * 30 + ".00")),
    ("round(x, 400)", 1.5, 1.5), ("floor(x)", 10 ** 400, 10 ** 400), ("int(x)", " 42 ", 42), ("int(x)", 42, 42),
    ("from_epoch(x, 'ms')", 1700000000123, datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)),
    ("replace(x, 'a', 'bb')", "a" * 1000, "bb" * 1000), ("join(x, ',')", ["a", None, 1], "a,1"),
    ("minutes(x)", Decimal("1.5"), timedelta(seconds=90)), ("float(x)", 10 ** 300, 1e300),
]


@pytest.mark.parametrize("text,value,expected", GOOD_INPUT, ids=[f"{g[0]}-{i}" for i, g in enumerate(GOOD_INPUT)])
def test_ordinary_values_pass_the_limits(text, value, expected):
    result = compile_expression(text)({"x": value})
    assert result == expected and type(result) is type(expected)


# -- every function, hostile values: a result or ValueError/TypeError in one line, fast -----------
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([10 ** 20, -(10 ** 20), 10 ** 400, 10 ** 5000]),
    st.floats(), st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("1E+999999"), Decimal("-1E+5000"), Decimal("1E-999999")]),
    st.text(max_size=30), st.sampled_from(["9" * 5000, "[" * 3000, "1e999999", "²", "\ud800", "%", "", " "]),
    st.lists(st.integers() | st.text(max_size=5) | st.none(), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.datetimes(timezones=st.just(timezone.utc)), st.dates(), st.timedeltas(),
)
NAMES = sorted(name for name, function in FUNCTIONS.items() if function.pure)


@settings(max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), values=st.lists(HOSTILE, min_size=3, max_size=3))
def test_every_function_returns_or_fails_plainly_and_fast(name, values):
    function = FUNCTIONS[name]
    count = max(function.required or 0, 1 if function.variadic else len(function.params))
    expression = compile_expression(f"{name}({', '.join(f'a{i}' for i in range(count))})")
    start = time.process_time()
    try:
        expression({f"a{i}": value for i, value in enumerate(values[:count])})
    except (ValueError, TypeError) as error:
        assert str(error) and "\n" not in str(error)
    assert time.process_time() - start < 1
