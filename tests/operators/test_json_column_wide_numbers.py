"""JSON of a database column (Debezium ``Json`` columns, ``cast`` to ``json``): PostgreSQL's jsonb
numbers are ``numeric``, so a number beyond the double range (``1e400``, a 400-digit integer) is a
value the database holds. It was refused ("beyond the double range"), and the whole change event
went to the dead letters; it is now exact. A source's own JSON still refuses it (orjson's rule)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.jsontext import JsonTextError, loads, loads_column
from engine.operators.debezium_types import json_text

wide = st.builds(lambda digits, exponent, sign: Decimal(f"{sign}{digits}E{exponent}"),
                 st.integers(1, 10 ** 30), st.integers(309, 5000), st.sampled_from(["", "-"]))


@settings(max_examples=200, deadline=None)
@given(wide, st.integers(10 ** 308, 10 ** 1000))
def test_numbers_beyond_the_double_range_are_exact(number, integer):
    text = f'{{"a": [{number}], "b": {integer}, "c": 0.1}}'
    assert loads_column(text) == {"a": [number], "b": integer, "c": 0.1}
    assert json_text(text) == {"a": [number], "b": integer, "c": 0.1}  # a Debezium Json column
    with pytest.raises(JsonTextError, match="beyond the double range"):
        loads(text)  # a source's JSON: unchanged


def test_the_limits_still_hold_for_wide_numbers():
    with pytest.raises(JsonTextError, match="nested deeper than 128 levels"):
        loads_column("[" * 200 + "1e400" + "]" * 200)
    with pytest.raises(JsonTextError, match="4300 digits"):
        loads_column("1" * 5000)
    with pytest.raises(JsonTextError, match="NaN is not a JSON number"):
        loads_column('{"a": 1e400, "b": NaN}')
