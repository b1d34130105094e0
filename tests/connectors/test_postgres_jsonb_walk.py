"""The one walk over a JSON value for what PostgreSQL's jsonb cannot hold (a NUL character, a
number beyond numeric) agrees with a plain reference: a walk for each, the NUL winning."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors import postgres_columns
from engine.connectors.errors import Unwritable
from engine.connectors.postgres_columns import pg_column
from engine.values import NUMERIC_SCALE_DIGITS, NUMERIC_WHOLE_DIGITS


def _reference_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_reference_nul(k) or _reference_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_reference_nul(v) for v in value)
    return False


def _reference_wide(value):
    """The first finite Decimal, in walk order, beyond numeric's digits (dict keys are text)."""
    if isinstance(value, Decimal):
        wide = value.is_finite() and (value.adjusted() >= NUMERIC_WHOLE_DIGITS
                                      or value.as_tuple().exponent < -NUMERIC_SCALE_DIGITS)
        return value if wide else None
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        found = _reference_wide(item)
        if found is not None:
            return found
    return None


_TEXT = st.text(alphabet=st.sampled_from("ab\x00é"), max_size=4)
_DECIMALS = st.one_of(
    st.sampled_from([Decimal("1.5"), Decimal("-0"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+200000"),
                     Decimal("-1.5E-16384"), Decimal("1E-16383"), Decimal("9E+131071"), Decimal("1E+131072")]),
    st.decimals(allow_nan=False, allow_infinity=False, places=2))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _TEXT, _DECIMALS)
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(_TEXT, inner, max_size=4)), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.booleans())
def test_the_one_walk_agrees_with_a_walk_for_each_reason(value, nul):
    found = postgres_columns._jsonb_problem(value, nul)
    if nul and _reference_nul(value):
        assert found is postgres_columns.HOLDS_NUL
    else:
        assert found is _reference_wide(value)  # the same Decimal: the first one met


@pytest.mark.parametrize("value, reason", [
    ({"a\x00": [Decimal("1E+200000")]}, "NUL"), ([Decimal("1E+200000"), "\x00"], "NUL"),
    ({"a": [1, {"b": Decimal("1E-16384")}]}, "1E-16384"), ("a\x00", "NUL"), ({"n": Decimal("1E+5")}, None)])
def test_a_json_column_refuses_what_jsonb_cannot_hold_naming_why(value, reason):
    convert = pg_column("j", "json").convert
    if reason is None:
        assert convert(value) == '{"n":1E+5}'
        return
    with pytest.raises(Unwritable, match=reason):
        convert(value)
