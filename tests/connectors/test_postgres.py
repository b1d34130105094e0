"""The PostgreSQL sink (one table) against a real server (tests/services/postgres.py): every
column type, append and upsert, the table checked when the flow starts, the connection."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pytest

from connector_flows import write_all
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import Unwritable
from engine.connectors.postgres_tables import postgres_sink
from engine.metrics import StepCounters
from engine.values import INFINITY, MINUS_INFINITY
from pg import execute, open_part, query

UTC = dt.timezone.utc
ALL_TYPES = {"i": "int", "f": "float", "b": "bool", "s": "str", "day": "date", "j": "json",
             "t": "timestamp", "amount": "decimal(12,3)"}


def sink(dsn, schema, table="events", **options):
    return postgres_sink(dsn=dsn, schema=schema, table=table, reconnect="5s", **options)


def test_every_type_round_trips_exactly(postgres_dsn, postgres_schema):
    event = {"i": 2**63 - 1, "f": 0.1, "b": True, "s": "héllo\ttab\nline \\ back 東京 🚚", "day": dt.date(2024, 2, 29),
             "j": {"k": [1, "x", None], "d": Decimal("1.10"), "big": 2**80},
             "t": dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
             "amount": Decimal("123456789.125"), "extra": "ignored"}
    counters = StepCounters("sink:pg")
    write_all([[event, {"i": -2**63}]], sink(postgres_dsn, postgres_schema, columns=ALL_TYPES, metrics=counters))
    got = query(postgres_dsn, postgres_schema, "SELECT i, f, b, s, day, j::text, t, amount FROM events ORDER BY i DESC")
    assert got[0][:5] == (2**63 - 1, 0.1, True, event["s"], dt.date(2024, 2, 29))
    assert json.loads(got[0][5], parse_float=Decimal) == {"k": [1, "x", None], "d": Decimal("1.10"), "big": 2**80}
    assert got[0][6] == dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    assert got[0][7] == Decimal("123456789.125")
    assert got[1] == (-2**63, None, None, None, None, None, None, None)  # missing fields are NULL
    assert (counters.events_in, counters.events_out) == (2, 2)


def test_column_types_of_the_created_table(postgres_dsn, postgres_schema):
    write_all([[{"i": 1}]], sink(postgres_dsn, postgres_schema, columns=ALL_TYPES))
    types = query(postgres_dsn, postgres_schema, "SELECT column_name, data_type FROM information_schema.columns "
                  "WHERE table_name = 'events' AND table_schema = %s ORDER BY ordinal_position", [postgres_schema])
    assert types == [("i", "bigint"), ("f", "double precision"), ("b", "boolean"), ("s", "text"), ("day", "date"),
                     ("j", "jsonb"), ("t", "timestamp with time zone"), ("amount", "numeric")]


def test_special_values_nan_infinities_and_text_forms(postgres_dsn, postgres_schema):
    events = [{"n": 1, "f": float("nan"), "t": INFINITY}, {"n": 2, "f": float("inf"), "t": MINUS_INFINITY},
              {"n": 3, "f": -float("inf"), "t": "infinity", "amount": "-0.0005", "day": "2024-03-01T10:00:00Z"},
              {"n": 4, "f": 3, "t": "2024-01-01T12:00:00+02:00", "amount": 7, "b": False, "day": "2024-03-01"}]
    write_all([events], sink(postgres_dsn, postgres_schema, columns={
        "n": "int", "f": "float", "t": "timestamp", "amount": "decimal(5,3)", "day": "date", "b": "bool"}))
    got = query(postgres_dsn, postgres_schema, "SELECT n, f, t::text, amount, day, b FROM events ORDER BY n")
    assert math.isnan(got[0][1]) and got[0][2] == "infinity"
    assert got[1][1:3] == (float("inf"), "-infinity")
    assert got[2][1:5] == (-float("inf"), "infinity", Decimal("-0.001"), dt.date(2024, 3, 1))  # rounded as numeric does
    assert got[3][1:] == (3.0, "2024-01-01 10:00:00+00", Decimal("7.000"), dt.date(2024, 3, 1), False)


def test_decimals_round_to_the_column_scale_half_away_from_zero(postgres_dsn, postgres_schema):
    write_all([[{"a": Decimal("1.005")}, {"a": Decimal("2")}, {"a": Decimal("-1.005")}, {"a": "0.125"}]],
              sink(postgres_dsn, postgres_schema, "t", columns={"a": "decimal(5,2)"}))
    assert query(postgres_dsn, postgres_schema, "SELECT a FROM t") == [
        (Decimal("1.01"),), (Decimal("2.00"),), (Decimal("-1.01"),), (Decimal("0.13"),)]


def test_append_mode_appends_across_runs(postgres_dsn, postgres_schema):
    for _ in range(2):
        write_all([[{"id": 1, "v": "a"}], [{"id": 1, "v": "b"}]],
                  sink(postgres_dsn, postgres_schema, "t", columns={"id": "int", "v": "str"}))
    assert query(postgres_dsn, postgres_schema, "SELECT count(*) FROM t") == [(4,)]


def test_upsert_replaces_rows_and_the_last_event_of_a_batch_wins(postgres_dsn, postgres_schema):
    part = open_part(sink(postgres_dsn, postgres_schema, "t", columns={"id": "int", "v": "str", "n": "int"},
                          mode="upsert", key=["id"]))
    part.write_batch([[{"id": 1, "v": "a", "n": 1}, {"id": 2, "v": "b", "n": 1}]])
    part.write_batch([[{"id": 1, "v": "first", "n": 2}, {"id": 1, "v": "last", "n": 3}], [{"id": 3, "v": "c"}]])
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT * FROM t ORDER BY id") == [
        (1, "last", 3), (2, "b", 1), (3, "c", None)]


def test_upsert_with_a_composite_key_and_two_spellings_of_one_decimal(postgres_dsn, postgres_schema):
    cols = {"day": "date", "site": "str", "total": "decimal(10,2)", "n": "int"}
    d = dt.date(2024, 1, 1)
    for total in ("1.00", "2.50"):
        write_all([[{"day": d, "site": "a", "total": Decimal(total), "n": 1}, {"day": d, "site": "b", "total": 1}]],
                  sink(postgres_dsn, postgres_schema, "totals", columns=cols, mode="upsert", key=["day", "site"]))
    assert query(postgres_dsn, postgres_schema, "SELECT site, total FROM totals ORDER BY site") == [
        ("a", Decimal("2.50")), ("b", Decimal("1.00"))]
    # 1.5 and 1.50 are one key: the later event wins instead of failing the statement
    write_all([[{"k": Decimal("1.5"), "v": "a"}, {"k": "1.50", "v": "b"}]],
              sink(postgres_dsn, postgres_schema, "dk", columns={"k": "decimal(4,2)", "v": "str"},
                   mode="upsert", key=["k"]))
    assert query(postgres_dsn, postgres_schema, "SELECT k, v FROM dk") == [(Decimal("1.50"), "b")]


def test_upsert_when_every_column_is_key(postgres_dsn, postgres_schema):
    part = open_part(sink(postgres_dsn, postgres_schema, "seen", columns={"id": "int"}, mode="upsert", key=["id"]))
    part.write_batch([[{"id": 1}, {"id": 1}]])
    part.write_batch([[{"id": 1}, {"id": 2}]])
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT id FROM seen ORDER BY id") == [(1,), (2,)]


def test_identifiers_are_quoted_so_injection_is_just_a_name(postgres_dsn, postgres_schema):
    execute(postgres_dsn, postgres_schema, "CREATE TABLE y (a INT)")
    table, column = 'x"; DROP TABLE y; --', 'we"ird col'
    write_all([[{column: "v", "select": 1}]], sink(postgres_dsn, postgres_schema, table,
                                                    columns={column: "str", "select": "int"}, mode="upsert",
                                                    key=["select"]))
    names = {r[0] for r in query(postgres_dsn, postgres_schema, "SELECT table_name FROM information_schema.tables "
                                 "WHERE table_schema = %s", [postgres_schema])}
    assert names == {"y", table}
    assert query(postgres_dsn, postgres_schema, 'SELECT "we""ird col", "select" FROM "x""; DROP TABLE y; --"') == [
        ("v", 1)]


def test_existing_table_with_other_columns_is_a_clear_error(postgres_dsn, postgres_schema):
    execute(postgres_dsn, postgres_schema, "CREATE TABLE t (id BIGINT, v INTEGER, old VARCHAR(10), a NUMERIC(5,1))")
    with pytest.raises(ConnectorError) as info:
        open_part(sink(postgres_dsn, postgres_schema, "t",
                       columns={"id": "int", "v": "str", "new": "float", "a": "decimal(5,2)"}))
    message = str(info.value)
    assert message.startswith("postgres sink: table 't' exists with other columns: ") and "\n" not in message
    assert "column 'v' is integer, not text" in message
    assert "missing column 'new' (double precision)" in message
    assert "column 'a' is numeric(5,1), not numeric(5,2)" in message
    assert "extra column 'old' (character varying(10))" in message


def test_existing_table_with_the_same_columns_is_reused(postgres_dsn, postgres_schema):
    write_all([[{"id": 1}]], sink(postgres_dsn, postgres_schema, "t", columns={"id": "int", "a": "decimal(10,2)"}))
    write_all([[{"id": 2}]], sink(postgres_dsn, postgres_schema, "t", columns={"id": "int", "a": "decimal(10, 2)"}))
    assert query(postgres_dsn, postgres_schema, "SELECT id FROM t ORDER BY id") == [(1,), (2,)]


def test_upsert_into_a_table_without_that_primary_key_is_a_clear_error(postgres_dsn, postgres_schema):
    write_all([[{"id": 1}]], sink(postgres_dsn, postgres_schema, "t", columns={"id": "int"}))
    with pytest.raises(ConnectorError, match=r"primary key is \(none\), upsert needs \(id\)"):
        open_part(sink(postgres_dsn, postgres_schema, "t", columns={"id": "int"}, mode="upsert", key=["id"]))


def test_values_postgresql_refuses_are_refused_when_encoded(postgres_dsn, postgres_schema):
    encode = sink(postgres_dsn, postgres_schema, "t", columns={"id": "int", "s": "str", "j": "json"},
                  mode="upsert", key=["id"]).encoder()
    cases = [({"id": 2**63}, r"column 'id': 9223372036854775808 is beyond BIGINT's 64-bit range"),
             ({"id": 1, "s": "a\x00b"}, r"column 's': text holds a NUL character"),
             ({"id": 1, "j": {"k": ["\x00"]}}, r"column 'j': JSON text holds a NUL character"),
             ({"id": None}, r"key column 'id' is null")]
    for event, message in cases:
        with pytest.raises(Unwritable, match=message):
            encode(event)
    assert encode({"id": 1, "j": "literally \\u0000"})[2] == '"literally \\\\u0000"'  # a backslash, not a NUL


def test_a_failing_insert_rolls_the_whole_batch_back(postgres_dsn, postgres_schema):
    execute(postgres_dsn, postgres_schema,  # a rule only the database knows: the sink cannot check it first
            "CREATE TABLE t (id BIGINT, amount NUMERIC(10,2) CHECK (amount IS NULL OR amount > 0))")
    part = open_part(sink(postgres_dsn, postgres_schema, "t", columns={"id": "int", "amount": "decimal(10,2)"}))
    part.write_batch([[{"id": 1, "amount": Decimal("1")}]])
    with pytest.raises(ConnectorError, match=r"writing 3 events into 't' \(nothing written\) failed: .*check"):
        part.write_batch([[{"id": 2, "amount": Decimal("2")}], [{"id": 3, "amount": "3"}, {"id": 4, "amount": "-4"}]])
    part.write_batch([[{"id": 5}]])  # the connection is usable after the rollback
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT id FROM t ORDER BY id") == [(1,), (5,)]


@pytest.mark.parametrize("options, message", [
    (dict(columns={"a": "int"}, mode="upsert"), "mode 'upsert' needs 'key'"),
    (dict(columns={"a": "int"}, mode="upsert", key=["b"]), "key column 'b' is not among the columns"),
    (dict(columns={"a": "varchar"}), "column 'a' has unknown type 'varchar'"),
    (dict(columns={}), "needs columns"),
    (dict(columns={"a": "int"}, mode="merge"), "mode must be 'append' or 'upsert'"),
    (dict(columns={"a": "int"}, reconnect="soon"), "reconnect 'soon' is not a duration"),
    (dict(columns={"a": "int"}, dsn="host=x password=s3cret dbname"), "'dsn' is not a libpq connection string"),
])
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(ConnectorError, match=message) as info:
        postgres_sink(**{"table": "t", **options})
    assert str(info.value).startswith("postgres sink: ") and "s3cret" not in str(info.value)


def test_an_unreachable_server_fails_within_the_reconnect_time_naming_it_without_the_password():
    unreachable = postgres_sink(dsn="postgresql://ann:s3cret@127.0.0.1:1/fast", table="t", columns={"a": "int"},
                                reconnect="1s")
    started = dt.datetime.now()
    with pytest.raises(ConnectorError) as info:
        open_part(unreachable)
    message = str(info.value)
    assert message.startswith("postgres sink: connecting: no connection to ann@127.0.0.1:1/fast within 1s (")
    assert "s3cret" not in message and "\n" not in message
    assert (dt.datetime.now() - started).total_seconds() < 15


def test_the_environment_completes_the_dsn(postgres_dsn, postgres_schema, monkeypatch):
    host_port, database = postgres_dsn.split("@", 1)[1].split("/")
    monkeypatch.setenv("PGHOST", host_port.split(":")[0])
    monkeypatch.setenv("PGPORT", host_port.split(":")[1])
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGDATABASE", database)
    write_all([[{"a": 1}]], postgres_sink(schema=postgres_schema, table="t", columns={"a": "int"}))
    assert query(postgres_dsn, postgres_schema, "SELECT a FROM t") == [(1,)]


def test_the_sink_survives_a_server_restart_between_batches(postgres_server, postgres_dsn, postgres_schema):
    part = open_part(sink(postgres_dsn, postgres_schema, "t", columns={"id": "int", "v": "str"}, mode="upsert",
                          key=["id"]))
    part.write_batch([[{"id": 1, "v": "before"}]])
    postgres_server.restart()
    part.write_batch([[{"id": 1, "v": "after"}, {"id": 2, "v": "new"}]])  # reconnects, stage tables again
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT id, v FROM t ORDER BY id") == [(1, "after"), (2, "new")]


def test_sink_has_one_partition_and_no_resume_state(postgres_dsn, postgres_schema):
    s = sink(postgres_dsn, postgres_schema, "t", columns={"a": "int"})
    assert len(s.list_parts()) == 1 and s.part_fn("anything") == 0 and s.opens_on_fresh_run
    part = open_part(s)
    assert part.snapshot() is None
    part.close()
