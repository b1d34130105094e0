"""The DuckDB sink against real database files."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest
from connector_flows import Encoding, write_all

from engine.connectors.duckdb import DuckDBSink
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import Unwritable
from engine.metrics import StepCounters

UTC = dt.timezone.utc
ALL_TYPES = {"i": "int", "f": "float", "b": "bool", "s": "str", "day": "date", "j": "json",
             "t": "timestamp", "amount": "decimal(12,3)"}


def rows(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def open_part(sink):
    return Encoding(sink, sink.build_part("sink", sink.path, None))


def test_every_type_round_trips_exactly(tmp_path):
    db = tmp_path / "sub" / "out.duckdb"
    event = {"i": 2**62, "f": 0.1, "b": True, "s": "héllo", "day": dt.date(2024, 2, 29),
             "j": {"k": [1, "x", None], "d": Decimal("1.10")},
             "t": dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
             "amount": Decimal("123456789.125"), "extra": "ignored"}
    counters = StepCounters("sink:db")
    write_all([[event, {"i": 1}]], DuckDBSink(str(db), "events", ALL_TYPES, metrics=counters))
    got = rows(db, 'SELECT * FROM events ORDER BY i DESC')
    assert got[0][:5] == (2**62, 0.1, True, "héllo", dt.date(2024, 2, 29))
    assert json.loads(got[0][5], parse_float=Decimal) == {"k": [1, "x", None], "d": Decimal("1.10")}
    assert got[0][5] == '{"k":[1,"x",null],"d":1.10}'
    assert got[0][6] == dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    assert got[0][7] == Decimal("123456789.125")
    assert got[1] == (1, None, None, None, None, None, None, None)  # missing fields are NULL
    assert (counters.events_in, counters.events_out) == (2, 2)


def test_column_types_of_the_created_table(tmp_path):
    db = tmp_path / "out.duckdb"
    write_all([[{"i": 1}]], DuckDBSink(str(db), "events", ALL_TYPES))
    types = rows(db, "SELECT column_name, data_type FROM information_schema.columns "
                     "WHERE table_name = 'events' ORDER BY ordinal_position")
    assert types == [("i", "BIGINT"), ("f", "DOUBLE"), ("b", "BOOLEAN"), ("s", "VARCHAR"),
                     ("day", "DATE"), ("j", "JSON"), ("t", "TIMESTAMP WITH TIME ZONE"),
                     ("amount", "DECIMAL(12,3)")]


def test_decimals_round_to_the_column_scale(tmp_path):
    db = tmp_path / "out.duckdb"
    write_all([[{"a": Decimal("1.005")}, {"a": Decimal("2")}]],
              DuckDBSink(str(db), "t", {"a": "decimal(5,2)"}))
    assert rows(db, "SELECT a FROM t") == [(Decimal("1.01"),), (Decimal("2.00"),)]


def test_append_mode_appends_across_runs(tmp_path):
    db = tmp_path / "out.duckdb"
    for _ in range(2):
        write_all([[{"id": 1, "v": "a"}], [{"id": 1, "v": "b"}]], DuckDBSink(str(db), "t", {"id": "int", "v": "str"}))
    assert rows(db, "SELECT count(*) FROM t") == [(4,)]


def test_upsert_replaces_rows_and_the_last_event_of_a_batch_wins(tmp_path):
    db = tmp_path / "out.duckdb"
    sink = DuckDBSink(str(db), "t", {"id": "int", "v": "str", "n": "int"}, mode="upsert", key=["id"])
    part = open_part(sink)
    part.write_batch([[{"id": 1, "v": "a", "n": 1}, {"id": 2, "v": "b", "n": 1}]])
    part.write_batch([[{"id": 1, "v": "first", "n": 2}, {"id": 1, "v": "last", "n": 3}], [{"id": 3, "v": "c"}]])
    part.close()
    assert rows(db, "SELECT * FROM t ORDER BY id") == [(1, "last", 3), (2, "b", 1), (3, "c", None)]


def test_upsert_with_a_composite_key_through_a_flow(tmp_path):
    db = tmp_path / "out.duckdb"
    cols = {"day": "date", "site": "str", "total": "decimal(10,2)"}
    d = dt.date(2024, 1, 1)
    for total in ("1.00", "2.50"):
        write_all([[{"day": d, "site": "a", "total": Decimal(total)}, {"day": d, "site": "b", "total": Decimal(1)}]],
                  DuckDBSink(str(db), "totals", cols, mode="upsert", key=["day", "site"]))
    assert rows(db, "SELECT site, total FROM totals ORDER BY site") == [("a", Decimal("2.50")), ("b", Decimal("1.00"))]


def test_upsert_when_every_column_is_key(tmp_path):
    db = tmp_path / "out.duckdb"
    part = open_part(DuckDBSink(str(db), "seen", {"id": "int"}, mode="upsert", key=["id"]))
    part.write_batch([[{"id": 1}, {"id": 1}]])
    part.write_batch([[{"id": 1}, {"id": 2}]])
    part.close()
    assert rows(db, "SELECT id FROM seen ORDER BY id") == [(1,), (2,)]


def test_identifiers_are_quoted_so_injection_is_just_a_name(tmp_path):
    db = tmp_path / "out.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE y (a INT)")
    con.close()
    table = 'x"; DROP TABLE y; --'
    column = 'we"ird col'
    write_all([[{column: "v", "select": 1}]],
              DuckDBSink(str(db), table, {column: "str", "select": "int"}, mode="upsert", key=["select"]))
    names = {r[0] for r in rows(db, "SELECT table_name FROM information_schema.tables")}
    assert names == {"y", table}
    assert rows(db, 'SELECT "we""ird col", "select" FROM "x""; DROP TABLE y; --"') == [("v", 1)]


def test_existing_table_with_other_columns_is_a_clear_error(tmp_path):
    db = tmp_path / "out.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t (id BIGINT, v INTEGER, old VARCHAR)")
    con.close()
    sink = DuckDBSink(str(db), "t", {"id": "int", "v": "str", "new": "float"})
    with pytest.raises(ConnectorError) as info:
        open_part(sink)
    message = str(info.value)
    assert message.startswith("duckdb sink: table 't' exists with other columns: ")
    assert "column 'v' is INTEGER, not VARCHAR" in message
    assert "missing column 'new' (DOUBLE)" in message
    assert "extra column 'old' (VARCHAR)" in message


def test_existing_table_with_same_columns_is_reused(tmp_path):
    db = tmp_path / "out.duckdb"
    write_all([[{"id": 1}]], DuckDBSink(str(db), "t", {"id": "int", "amount": "decimal(10,2)", "t": "timestamp"}))
    write_all([[{"id": 2}]], DuckDBSink(str(db), "t", {"id": "int", "amount": "decimal(10, 2)", "t": "timestamp"}))
    assert rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (2,)]


def test_upsert_into_a_table_without_that_primary_key_is_a_clear_error(tmp_path):
    db = tmp_path / "out.duckdb"
    write_all([[{"id": 1}]], DuckDBSink(str(db), "t", {"id": "int"}))
    with pytest.raises(ConnectorError, match=r"primary key is \(none\), upsert needs \(id\)"):
        open_part(DuckDBSink(str(db), "t", {"id": "int"}, mode="upsert", key=["id"]))


def test_a_bad_value_is_refused_when_its_event_is_encoded_naming_the_column(tmp_path):
    sink = DuckDBSink(str(tmp_path / "out.duckdb"), "t", {"id": "int", "amount": "decimal(10,2)"}, mode="upsert", key=["id"])
    encode = sink.encoder()
    cases = [({"id": "one"}, r"column 'id': expected an integer, got str 'one'"),
             ({"id": 2**63}, r"column 'id': 9223372036854775808 is beyond BIGINT's 64-bit range"),
             ({"id": 1, "amount": "abc"}, r"column 'amount': not a decimal number: 'abc'"),
             ({"id": 1, "amount": Decimal("123456789")}, r"more than 8 digits before the point \(DECIMAL\(10,2\)\)"),
             ({"id": None}, r"key column 'id' is null")]
    for event, message in cases:
        with pytest.raises(Unwritable, match=message):
            encode(event)
    assert encode({"id": 2**63 - 1, "amount": "99999999.994"}) == (2**63 - 1, "99999999.99")  # rounded to the scale here


def test_a_failing_insert_rolls_the_whole_batch_back(tmp_path):
    db = tmp_path / "out.duckdb"
    con = duckdb.connect(str(db))  # a rule only the database knows: the sink cannot check it first
    con.execute("CREATE TABLE t (id BIGINT, amount DECIMAL(10,2) CHECK (amount IS NULL OR amount > 0))")
    con.close()
    part = open_part(DuckDBSink(str(db), "t", {"id": "int", "amount": "decimal(10,2)"}))
    part.write_batch([[{"id": 1, "amount": Decimal("1")}]])
    with pytest.raises(ConnectorError, match=r"writing 3 events into 't' failed \(nothing written\)"):
        part.write_batch([[{"id": 2, "amount": Decimal("2")}], [{"id": 3, "amount": "3"}, {"id": 4, "amount": "-4"}]])
    part.write_batch([[{"id": 5}]])  # the connection is usable after the rollback
    part.close()
    assert rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (5,)]


@pytest.mark.parametrize("options, message", [
    (dict(columns={"a": "int"}, mode="upsert"), "mode 'upsert' needs 'key'"),
    (dict(columns={"a": "int"}, mode="upsert", key=["b"]), "key column 'b' is not among the columns"),
    (dict(columns={"a": "varchar"}), "column 'a' has unknown type 'varchar'"),
    (dict(columns={}), "needs columns"),
    (dict(columns={"a": "int"}, mode="merge"), "mode must be 'append' or 'upsert'"),
])
def test_bad_options_are_clear_errors(tmp_path, options, message):
    with pytest.raises(ConnectorError, match=message):
        DuckDBSink(str(tmp_path / "x.duckdb"), "t", **options)


def test_sink_has_one_partition_and_no_resume_state(tmp_path):
    sink = DuckDBSink(str(tmp_path / "x.duckdb"), "t", {"a": "int"})
    assert len(sink.list_parts()) == 1 and sink.part_fn("anything") == 0
    part = open_part(sink)
    assert part.snapshot() is None
    part.close()


def test_timestamps_are_stored_as_instants_and_naive_ones_are_utc(tmp_path):
    db = tmp_path / "out.duckdb"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    write_all([[{"n": 1, "t": dt.datetime(2024, 1, 1, 12, tzinfo=plus2)}, {"n": 2, "t": dt.datetime(2024, 1, 1, 12)}]],
              DuckDBSink(str(db), "t", {"n": "int", "t": "timestamp"}))
    assert rows(db, "SELECT t FROM t ORDER BY n") == [(dt.datetime(2024, 1, 1, 10, tzinfo=UTC),),
                                                      (dt.datetime(2024, 1, 1, 12, tzinfo=UTC),)]


@pytest.mark.parametrize("sink", [
    '{path: out.duckdb, table: t, columns: {id: int, w: "decimal(39,2)"}}',
    '{path: out.duckdb, tables: {t: {key: [id], columns: {id: int, w: "decimal(39,2)"}}}}'])
def test_a_decimal_wider_than_duckdbs_38_digits_is_refused_when_validated(tmp_path, sink):
    """The topology's types allow decimal(1000,s) (PostgreSQL's numeric); DuckDB refused it only
    when the flow started (a Binder Error)."""
    from engine.binding import validate_text

    text = f"version: 1\nname: d\nsources:\n  s: {{file: {{path: in.jsonl}}}}\nsinks:\n  out: {{from: s, duckdb: {sink}}}\n"
    result = validate_text(str(tmp_path / "f.yaml"), text, env={})
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and "DuckDB's DECIMAL holds at most 38 digits" in errors[0].message
    assert errors[0].line == 6 and errors[0].hint is None
    assert not [d for d in validate_text(str(tmp_path / "f.yaml"), text.replace("39", "38"), env={}).diagnostics
                if d.severity == "error"]
