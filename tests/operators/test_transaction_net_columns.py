"""transaction_net._changed_columns' C-loop way for rows with the same columns in the same order
gives exactly what the comparison of each column gives: the same columns, or the same error
(a signalling NaN Decimal), whatever the values (NaN is never equal, even to itself)."""

from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.transaction_net import _changed_columns

_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", ""]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1.0, 0.0, float("nan")]),
    st.sampled_from([Decimal("1"), Decimal("1.0"), Decimal("NaN"), Decimal("sNaN"), Decimal("-0")]),
    st.sampled_from([datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1)]),
    st.dictionaries(st.sampled_from("xy"), st.integers(0, 2), max_size=2), st.lists(st.integers(0, 2), max_size=2))


def _reference(before, after):
    """The comparison per column (the implementation before the C loop)."""
    if not before or not after:
        return sorted([k for k, v in (after or before or {}).items() if v is not None])
    if before.keys() == after.keys():
        return sorted([k for k, v in before.items() if after[k] != v])
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _outcome(fn, before, after):
    try:
        return "ok", fn(before, after)
    except Exception as exc:  # noqa: BLE001 - the same error is part of the same behaviour
        return "error", type(exc), str(exc)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), _VALUES, max_size=6), st.data())
def test_changed_columns_are_those_the_comparison_of_each_column_gives(before, data):
    after = {}
    for key, value in before.items():  # the same object (an unchanged column), or another value
        after[key] = value if data.draw(st.booleans()) else data.draw(_VALUES)
    if data.draw(st.booleans()):  # another column order, a column less or more
        after = dict(reversed(list(after.items())))
    if after and data.draw(st.booleans()):
        after.pop(next(iter(after)))
    if data.draw(st.booleans()):
        after[data.draw(st.sampled_from("abcdefg"))] = data.draw(_VALUES)
    assert _outcome(_changed_columns, before, after) == _outcome(_reference, before, after)
    assert _outcome(_changed_columns, after, before) == _outcome(_reference, after, before)


def test_a_nan_is_a_change_even_when_it_is_the_same_object():
    nan = float("nan")
    assert _changed_columns({"a": nan, "b": 1}, {"a": nan, "b": 1}) == ["a"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=3), _VALUES, max_size=8), st.booleans())
def test_an_insert_or_delete_lists_every_column_that_has_a_value(row, inserted):
    before, after = (None, row) if inserted else (row, None)
    assert _outcome(_changed_columns, before, after) == _outcome(_reference, before, after)
