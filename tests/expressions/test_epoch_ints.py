"""An epoch number becomes its timestamp as ``_EPOCH + timedelta.resolution * micros``
(values.epoch_converter): the same moment, the same infinities and the same refusal as the
timedelta of ``microseconds=micros`` it was made with before."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.values import MINUS_INFINITY_EPOCH, PLUS_INFINITY_EPOCH, epoch_converter, infinite_epochs

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000}


def _reference(unit: str, value):
    """The converter's way before: a timedelta of the microseconds."""
    per = 1_000_000 // _PER_SECOND[unit]
    if type(value) is int:
        infinite = infinite_epochs(_PER_SECOND[unit]).get(value)
        if infinite is not None:
            return infinite
        micros = value * per
    else:
        number = Decimal(value)
        if not number.is_finite() or number.adjusted() > 30:
            return ValueError
        micros = int(number * per)
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return ValueError


def _outcome(convert, value):
    try:
        return convert(value)
    except ValueError:
        return ValueError


edges = st.sampled_from([0, -1, 1, 253402300799, 253402300800, -62135596800, -62135596801, 253402300799999,
                         253402300800000, -62135596800000, 253402300799999999, -62135596800000000,
                         PLUS_INFINITY_EPOCH, MINUS_INFINITY_EPOCH, PLUS_INFINITY_EPOCH // 1000,
                         MINUS_INFINITY_EPOCH // 1000, 2 ** 63 - 1, -(2 ** 63), 10 ** 30, -(10 ** 30)])


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(sorted(_PER_SECOND)), st.one_of(edges, st.integers(), st.integers(-(2 ** 70), 2 ** 70),
                                                       st.integers(-62135596800000000, 253402300799999999),
                                                       st.floats(), st.decimals(), st.decimals(places=3)))
def test_an_epoch_number_is_the_timestamp_its_microseconds_give(unit, value):
    got, expected = _outcome(epoch_converter(unit), value), _reference(unit, value)
    assert got == expected and type(got) is type(expected)
    if isinstance(got, datetime):
        assert got.tzinfo is timezone.utc


@pytest.mark.parametrize("unit", sorted(_PER_SECOND))
def test_out_of_range_says_why(unit):
    with pytest.raises(ValueError, match=f"{unit} since 1970 is not a timestamp between the years 1 and 9999"):
        epoch_converter(unit)(10 ** 30)
