"""The converters of a column remember their last results (debezium_schema.memoized): the same
values, the same errors, and never a bool or a float taken for an equal integer."""

import pytest

from engine.operators.debezium_schema import _MEMO, column_converter, memoized
from engine.operators.debezium_types import LOGICAL, epoch_days


def test_a_remembered_value_is_the_one_converted():
    convert = column_converter({"name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}, "p")
    first = convert("AOg=")  # 232 -> 2.32
    assert str(first) == "2.32" and convert("AOg=") is first


def test_a_failing_value_fails_every_time_with_the_same_error():
    convert = column_converter({"name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}, "p")
    errors = []
    for _ in range(2):
        with pytest.raises(ValueError) as caught:
            convert("not base64!")
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == "not base64 text"


def test_a_bool_or_float_is_never_taken_for_the_equal_integer():
    convert = memoized(epoch_days)
    assert convert(1) == epoch_days(1)
    for value in (True, 1.0):
        try:
            expected = epoch_days(value)
        except ValueError as exc:
            with pytest.raises(ValueError, match=str(exc)):
                convert(value)
        else:
            assert convert(value) == expected


def test_mutable_results_are_not_remembered():
    convert = column_converter({"name": "io.debezium.data.Json"}, "p")
    assert convert is LOGICAL["io.debezium.data.Json"]
    assert convert('{"a": 1}') is not convert('{"a": 1}')


def test_memory_is_bounded():
    calls = []
    convert = memoized(lambda v: calls.append(v) or v * 2)
    for n in range(3 * _MEMO):
        assert convert(n) == 2 * n
    assert convert(3 * _MEMO - 1) == 6 * _MEMO - 2 and len(calls) == 3 * _MEMO  # the last one remembered
    assert convert(0) == 0 and len(calls) == 3 * _MEMO + 1  # the first one forgotten
