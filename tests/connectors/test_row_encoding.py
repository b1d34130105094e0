"""The generated row encoders (engine/connectors/row_encoding.py) against the converters they
inline: for any event, the same row, or the same refusal naming the same column."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors.duckdb_columns import Column
from engine.connectors.jsonl import Unwritable
from engine.connectors.postgres_columns import pg_column
from engine.connectors.row_encoding import row_encoder

KINDS = ["int", "float", "bool", "str", "date", "json", "timestamp", "decimal(12,3)", "decimal(4,0)", "decimal(38,10)"]
NAMES = [f"c{i}_{k.split('(')[0]}" for i, k in enumerate(KINDS)]


class Text(str):
    """A str subclass (as environment values are): never taken for plain text."""


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2 ** 64), max_value=2 ** 64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(), st.text(alphabet="ab\x00é\ud800"),
    st.builds(Text, st.text(max_size=3)), st.dates(),
    st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=2))])), st.datetimes(),
    st.decimals(allow_nan=True), st.decimals(min_value=-10 ** 10, max_value=10 ** 10, places=4),
    st.sampled_from([Decimal("999999999.9995"), Decimal("999999999.9994"), Decimal("-0.0005"), Decimal("9999.5"),
                     Decimal("0E+20"), Decimal("1E-40"), Decimal("-0"), Decimal("sNaN"), Decimal("-Infinity")]),
    st.sampled_from(["2026-11-02", "2026-11-02T06:00:00Z", "1.5", "infinity", "x"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    # what orjson refuses without help (the json columns' quick test redoes the event): keys that are not
    # text, integers beyond 64 bits, decimals, NUL and surrogates inside, nesting
    st.dictionaries(st.one_of(st.integers(), st.dates(), st.text(alphabet="a\x00\ud800", max_size=2)),
                    st.one_of(st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.decimals(allow_nan=True)),
                    max_size=2),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=1), max_leaves=300))


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def reference(columns, table, key, event):
    """What the converters give, one call per column (the encoder before it was generated)."""
    if type(event) is not dict:
        raise Unwritable("not an event")
    row = []
    for column in columns:
        try:
            row.append(column.convert(event.get(column.name)))
        except Unwritable as exc:
            raise Unwritable(f"table '{table}', column '{column.name}': {exc}") from None
    for column, value in zip(columns, row, strict=True):
        if column.name in key and value is None:
            raise Unwritable(f"table '{table}': key column '{column.name}' is null")
    return tuple(row)


def outcome(encode, *args):
    try:
        return "row", encode(*args)
    except Unwritable as exc:
        return "refused", str(exc)


@pytest.mark.parametrize("make", [Column.of, pg_column], ids=["duckdb", "postgres"])
@settings(max_examples=400, deadline=None)
@given(values=st.lists(VALUES, min_size=len(KINDS), max_size=len(KINDS)), key=st.sampled_from([(), ("c0_int",)]))
def test_the_generated_encoder_gives_what_the_converters_give(make, values, key):
    columns = [make(name, kind) for name, kind in zip(NAMES, KINDS, strict=True)]
    event = dict(zip(NAMES, values, strict=True))
    encode = row_encoder(columns, "t", key)
    got, expected = outcome(encode, event), outcome(lambda e: reference(columns, "t", key, e), event)
    assert got[0] == expected[0], (got, expected)
    if got[0] == "row":
        assert repr(got) == repr(expected) and [type(v) for v in got[1]] == [type(v) for v in expected[1]]  # NaN
    else:
        assert got[1] == expected[1]


def test_names_that_are_not_identifiers_and_a_missing_field():
    columns = [Column.of("order id", "int"), Column.of("'); import os; ('", "str"), Column.of("n", "decimal(5,1)")]
    encode = row_encoder(columns, "t", ["order id"])
    assert encode({"order id": 7, "'); import os; ('": "x", "n": Decimal("1.25")}) == (7, "x", "1.3")  # rounded to the scale, ties away from zero
    assert outcome(encode, {"'); import os; ('": "x"}) == ("refused", "table 't': key column 'order id' is null")
    assert outcome(encode, [1]) == ("refused", "expected an event (an object), got list [1]")


def test_no_columns_is_an_empty_row():
    # a key naming no column gives no key columns (reported by the table's checks, not a crash)
    assert row_encoder([], "t")({"a": 1}) == ()


def test_the_usual_values_skip_the_converters():
    calls = []

    def counted(value):
        calls.append(value)
        return value

    plain = [Column(c.name, c.sql_type, c.arrow_type, counted, c.quick) for c in
             (Column.of("i", "int"), Column.of("s", "str"), Column.of("t", "timestamp"), Column.of("d", "date"))]
    now, day = datetime(2026, 12, 1, tzinfo=timezone.utc), date(2026, 12, 1)
    assert row_encoder(plain, "t")({"i": 1, "s": "a", "t": now, "d": day}) == (1, "a", now, day)
    assert calls == []
    row_encoder(plain, "t")({"i": "1", "s": "é", "t": "x", "d": now})
    assert calls == ["1", "é", "x", now]


EDGES = [Decimal("999999999.9995"), Decimal("999999999.9994"), Decimal("-999999999.9995"), Decimal("9999.5"),
         Decimal("9999.4"), Decimal("-0.0005"), Decimal("0.0005"), Decimal("0E+20"), Decimal("1E-40"), Decimal("-0"),
         Decimal("1E+8"), Decimal("1E+9"), Decimal("sNaN"), Decimal("NaN"), Decimal("-Infinity"), Decimal("12.3456789")]


@pytest.mark.parametrize("make", [Column.of, pg_column], ids=["duckdb", "postgres"])
@pytest.mark.parametrize("kind", ["decimal(12,3)", "decimal(4,0)", "decimal(28,2)", "decimal(38,10)"])
def test_decimals_at_the_edges_of_rounding_and_range(make, kind):
    columns = [make("d", kind)]
    encode = row_encoder(columns, "t")
    for value in EDGES:
        got, expected = outcome(encode, {"d": value}), outcome(lambda e: reference(columns, "t", (), e), {"d": value})
        assert repr(got) == repr(expected), (value, got, expected)


JSON_EDGES = [{1: "a"}, {"a": 2 ** 65}, {"d": Decimal("1.50")}, {"t": "\x00"}, {"t": "\\u0000"}, {"s": "\ud800"},
              nested(253), nested(300), {date(2026, 1, 1): 1}, [Text("x")], {Text("k"): 1}, (1, 2), {1, 2}]


@pytest.mark.parametrize("make", [Column.of, pg_column], ids=["duckdb", "postgres"])
def test_json_values_orjson_refuses_at_first(make):
    columns = [make("j", "json")]
    encode = row_encoder(columns, "t")
    for value in JSON_EDGES:
        got, expected = outcome(encode, {"j": value}), outcome(lambda e: reference(columns, "t", (), e), {"j": value})
        assert got == expected, (value, got, expected)
