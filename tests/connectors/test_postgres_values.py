"""Property: every value of every column type the PostgreSQL sink takes reads back from the
server as it was written (decimals rounded to the column's scale as numeric does, timestamps
as the same instant); a value PostgreSQL cannot hold is refused when its event is encoded."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors.jsonl import Unwritable, encode_value
from engine.connectors.postgres_tables import postgres_sink
from pg import open_part, query

COLUMNS = {"id": "int", "i": "int", "f": "float", "b": "bool", "s": "str", "day": "date", "j": "json",
           "t": "timestamp", "amount": "decimal(12,3)"}
UTC = dt.timezone.utc

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 100), 2 ** 100) | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=12)
_OFFSETS = st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-8))])
_VALUES = {
    "i": st.integers(-(2 ** 63), 2 ** 63 - 1),
    "f": st.floats(allow_nan=True, allow_infinity=True),
    "b": st.booleans(),
    "s": _TEXT,
    "day": st.dates(),
    "j": _JSON,
    "t": st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31), timezones=_OFFSETS),
    "amount": st.decimals(min_value=Decimal("-999999999.9994"), max_value=Decimal("999999999.9994"), places=4,
                          allow_nan=False, allow_infinity=False),
}
_ROW = st.fixed_dictionaries({}, optional={k: v | st.none() for k, v in _VALUES.items()})


def _exact(text):
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def _same(column: str, wrote, read) -> bool:
    if wrote is None:
        return read is None
    if column == "f":
        return (math.isnan(wrote) and math.isnan(read)) or wrote == read
    if column == "amount":
        return read == wrote.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    if column == "j":  # jsonb keeps the value of the JSON text (numbers as exact decimals), not its key order
        return _exact(read) == _exact(encode_value(wrote))
    return wrote == read  # timestamps: aware datetimes compare as instants


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, min_size=1, max_size=20))
def test_every_value_of_every_type_round_trips(postgres_dsn, rows):
    schema = "v_" + uuid.uuid4().hex[:12]
    events = [{"id": n, **row} for n, row in enumerate(rows)]
    part = open_part(postgres_sink(dsn=postgres_dsn, schema=schema, table="v", columns=COLUMNS, mode="upsert",
                                   key=["id"]))
    try:
        part.write_batch([events])
        part.close()
        names = list(COLUMNS)
        read = query(postgres_dsn, schema, f"SELECT {', '.join(names)}, j::text FROM v ORDER BY id")
        assert len(read) == len(events)
        for event, got in zip(events, read, strict=True):
            values = dict(zip(names, got[:-1], strict=True), j=got[-1])
            for column in _VALUES:
                assert _same(column, event.get(column), values[column]), (column, event.get(column), values[column])
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@given(text=st.text(max_size=20), nested=st.booleans())
def test_text_is_refused_exactly_when_postgresql_could_not_hold_it(text, nested):
    encode = postgres_sink(table="v", columns={"id": "int", "s": "str", "j": "json"}).encoder()
    event = {"id": 1, "j": {"k": [text]}} if nested else {"id": 1, "s": text}
    holdable = "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    if holdable:
        encode(event)
    else:
        with pytest.raises(Unwritable):
            encode(event)
