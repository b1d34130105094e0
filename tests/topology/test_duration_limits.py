"""A duration no timedelta holds is a ValueError like any malformed one (callers catch that), not
an OverflowError."""

import pytest

from engine.durations import parse_duration


@pytest.mark.parametrize("text", ["1000000000d", "99999999999999999999s", "1" + "0" * 400 + "ms"])
def test_a_duration_too_long_for_a_timedelta_is_a_value_error(text):
    with pytest.raises(ValueError, match="too long"):
        parse_duration(text)


def test_the_longest_duration_is_taken():
    assert parse_duration("999999999d").days == 999999999
