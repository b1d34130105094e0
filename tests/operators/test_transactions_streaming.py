"""compact_change.STREAMING tests "false" first (Debezium's value): a membership test gives
what the first order (None, False, "false") gave for any source.snapshot value, the same answer
or the same error (a signalling NaN compared with False)."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.compact_change import STREAMING

_FIRST = (None, False, "false")


def _outcome(value, values):
    try:
        return "ok", value not in values
    except Exception as exc:  # noqa: BLE001 - the same error is part of the same behaviour
        return "error", type(exc)


_ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=True), st.text(max_size=6),
    st.sampled_from(["false", "true", "first", "last", "incremental", "False", "", 0, 0.0, 1, 1.0]),
    st.sampled_from([Decimal("0"), Decimal("NaN"), Decimal("sNaN"), Decimal("1")]),
    st.lists(st.booleans(), max_size=2), st.dictionaries(st.text(max_size=2), st.booleans(), max_size=2))


def test_the_same_values_as_before():
    assert set(STREAMING) == set(_FIRST) and len(STREAMING) == len(_FIRST)


@settings(max_examples=500, deadline=None)
@given(_ANY)
def test_a_snapshot_value_is_streaming_exactly_as_before(value):
    assert _outcome(value, STREAMING) == _outcome(value, _FIRST)
