"""PostgreSQL's 'infinity' / '-infinity' dates (engine/infinite_dates.py) from Debezium's epoch
days to every place a date goes: cast, JSON text and back, DuckDB and PostgreSQL date columns,
a PostgreSQL lookup, pickled state."""

from __future__ import annotations

import json
import pickle
from datetime import date, timedelta

import duckdb
import pytest
from connector_flows import write_all
from hypothesis import given, settings
from hypothesis import strategies as st
from pg import query

from engine.connectors.duckdb_columns import Column, arrow_table
from engine.connectors.jsonl import Unwritable, encode_event
from engine.connectors.postgres_tables import postgres_sink
from engine.connectors.row_encoding import row_encoder
from engine.infinite_dates import DATE_INFINITY, DATE_MINUS_INFINITY, InfiniteDate
from engine.operators.cast import Cast
from engine.operators.joins.lookup import Lookup
from engine.values import INFINITY, MINUS_INFINITY, to_date

INFINITE = st.sampled_from([DATE_INFINITY, DATE_MINUS_INFINITY])


@settings(max_examples=200, deadline=None)
@given(INFINITE, st.dates(), st.timedeltas(min_value=timedelta(days=-10 ** 6), max_value=timedelta(days=10 ** 6)))
def test_infinite_dates_order_around_every_date_and_stay_infinite(infinite, finite, shift):
    assert (finite <= infinite) if infinite.positive else (infinite <= finite)
    assert infinite + shift is infinite and infinite - shift is infinite and shift + infinite is infinite
    assert pickle.loads(pickle.dumps(infinite)) is infinite
    assert sorted([finite, DATE_INFINITY, DATE_MINUS_INFINITY])[1:-1] == [finite] or finite in (date.max, date.min)


def test_text_and_timestamps_read_as_the_same_objects():
    for text in ("infinity", " Infinity ", "+infinity"):
        assert to_date(text) is DATE_INFINITY
    assert to_date("-INFINITY") is DATE_MINUS_INFINITY
    assert to_date(INFINITY) is DATE_INFINITY and to_date(MINUS_INFINITY) is DATE_MINUS_INFINITY
    assert to_date(DATE_INFINITY) is DATE_INFINITY and to_date("9999-12-31") == date.max
    assert type(to_date("9999-12-31")) is date  # a real 9999-12-31 stays a finite date


def test_json_lines_write_the_words_and_cast_reads_them_back():
    line = encode_event({"until": DATE_INFINITY, "since": DATE_MINUS_INFINITY, "day": date(2024, 2, 29)})
    assert json.loads(line) == {"until": "infinity", "since": "-infinity", "day": "2024-02-29"}
    step = Cast("c", {"fields": {"until": "date", "since": "date", "day": "date"}}, None)
    oks, deads = step.process([json.loads(line), {"until": "later", "since": None, "day": None}])
    assert [(e["until"], e["since"], e["day"]) for e in oks] == [(DATE_INFINITY, DATE_MINUS_INFINITY,
                                                                   date(2024, 2, 29))]
    assert len(deads) == 1 and "later" in deads[0].error


def test_duckdb_date_columns_store_duckdbs_infinite_dates():
    columns = [Column.of("id", "int"), Column.of("d", "date")]
    encode = row_encoder(columns, "x")
    rows = [{"id": 1, "d": DATE_INFINITY}, {"id": 2, "d": DATE_MINUS_INFINITY}, {"id": 3, "d": "infinity"},
            {"id": 4, "d": date(2024, 2, 29)}, {"id": 5, "d": date.max}]
    batch = arrow_table(columns, [encode(e) for e in rows])  # noqa: F841 - read by DuckDB by name
    con = duckdb.connect()
    con.execute("CREATE TABLE x (id BIGINT, d DATE)")
    con.execute("INSERT INTO x SELECT * FROM batch")
    got = con.execute("SELECT id, CAST(d AS VARCHAR), isinf(d) FROM x ORDER BY id").fetchall()
    assert got == [(1, "infinity", True), (2, "-infinity", True), (3, "infinity", True), (4, "2024-02-29", False),
                   (5, "9999-12-31", False)]


def test_postgres_date_columns_store_and_a_lookup_reads_back_infinite_dates(postgres_dsn, postgres_schema):
    events = [{"id": 1, "until": DATE_INFINITY}, {"id": 2, "until": DATE_MINUS_INFINITY},
              {"id": 3, "until": "infinity"}, {"id": 4, "until": date(2024, 2, 29)}]
    write_all([events], postgres_sink(dsn=postgres_dsn, schema=postgres_schema, table="valid", mode="upsert",
                                      key=["id"], columns={"id": "int", "until": "date"}, reconnect="5s"))
    got = query(postgres_dsn, postgres_schema, "SELECT id, until::text, isfinite(until) FROM valid ORDER BY id")
    assert got == [(1, "infinity", False), (2, "-infinity", False), (3, "infinity", False), (4, "2024-02-29", True)]
    step = Lookup("l", {"postgres": postgres_dsn, "schema": postgres_schema, "table": "valid", "key": "id",
                        "on": "id", "fields": {"until": "until"}}, None)
    out, dead = step.process([{"id": 1}, {"id": 2}, {"id": 4}])
    assert dead == [] and [e["until"] for e in out] == [DATE_INFINITY, DATE_MINUS_INFINITY, date(2024, 2, 29)]
    assert type(out[0]["until"]) is InfiniteDate


def test_a_date_is_a_dates_or_a_timestamps_text_and_nothing_with_more_after_it():
    """The first 10 characters were taken of any text: '2024-01-01xyz' was a date."""
    assert to_date("2024-03-01T23:30:00-05:00") == date(2024, 3, 1)  # a timestamp's own date, as written
    for text in ("2024-01-01xyz", "2024-01-01T99", "2024-01-01 and more"):
        with pytest.raises(ValueError):
            to_date(text)
    encode = row_encoder([Column.of("d", "date")], "x")
    with pytest.raises(Unwritable, match="not an ISO-8601 date"):
        encode({"d": "2024-01-01xyz"})
