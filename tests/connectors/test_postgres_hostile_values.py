"""Values and names the PostgreSQL sink's authors never fed it: each is written, or dead-letters
its own event naming the column, and never fails its batch (which would stop the flow); keys that
PostgreSQL holds equal are one key of a batch, the last event winning; a name PostgreSQL would
cut or cannot hold is refused when the sink is built, in one line (docs/connectors.md, PostgreSQL)."""

import math
import os
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from connector_flows import encode_each
from pg import open_part, query

from engine.connectors.errors import ConnectorError
from engine.connectors.postgres_tables import postgres_sink


def _written(dsn, schema, columns, events, key=None):
    """The rows of ``t`` after one batch of ``events`` (those the encoder refuses left out), and the refusals."""
    sink = postgres_sink(dsn, schema, "t", columns=columns, mode="upsert" if key else "append", key=key)
    part = open_part(sink)
    kept, refused = encode_each(part, events)
    try:
        part.write_batch([kept])
    finally:
        part.close()
    return query(dsn, schema, "SELECT * FROM t ORDER BY 1"), refused


def test_integers_in_a_float_column_are_doubles_and_one_beyond_doubles_is_a_dead_letter(postgres_dsn, postgres_schema):
    rows, refused = _written(postgres_dsn, postgres_schema, {"id": "int", "f": "float"},
                             [{"id": 1, "f": 2 ** 64}, {"id": 2, "f": 10 ** 400}, {"id": 3, "f": 7}])
    assert rows == [(1, float(2 ** 64)), (3, 7.0)]
    assert len(refused) == 1
    assert refused[0].startswith("table 't', column 'f': ") and refused[0].endswith("is beyond DOUBLE's range")


def test_a_json_number_beyond_numeric_is_a_dead_letter_and_the_rest_of_the_batch_commits(postgres_dsn, postgres_schema):
    events = [{"id": 1, "j": {"n": Decimal("1E+200000")}}, {"id": 2, "j": [Decimal("1.5E-16383")]},
              {"id": 3, "j": {"n": Decimal("1E+1000"), "m": Decimal("12345E-16383")}}, {"id": 4, "j": {"ok": 1}}]
    rows, refused = _written(postgres_dsn, postgres_schema, {"id": "int", "j": "json"}, events)
    assert [(i, j if i == 4 else None) for i, j in rows] == [(3, None), (4, {"ok": 1})]
    assert Decimal(str(rows[0][1]["n"])) == Decimal("1E+1000")
    assert [r.split(":")[0] for r in refused] == ["table 't', column 'j'"] * 2
    assert all("beyond PostgreSQL's numeric" in r for r in refused)


def test_a_naive_and_an_aware_timestamp_of_one_instant_are_one_key(postgres_dsn, postgres_schema):
    events = [{"k": datetime(2024, 1, 1), "v": 1}, {"k": datetime(2024, 1, 1, tzinfo=timezone.utc), "v": 2},
              {"k": datetime(2024, 1, 1), "v": 3}]
    rows, _ = _written(postgres_dsn, postgres_schema, {"k": "timestamp", "v": "int"}, events, key=["k"])
    assert rows == [(datetime(2024, 1, 1, tzinfo=timezone.utc), 3)]


def test_nan_keys_of_one_batch_are_one_key(postgres_dsn, postgres_schema):
    rows, _ = _written(postgres_dsn, postgres_schema, {"k": "float", "v": "int"},
                       [{"k": float("nan"), "v": 1}, {"k": float("nan"), "v": 2}], key=["k"])
    assert len(rows) == 1 and math.isnan(rows[0][0]) and rows[0][1] == 2


def test_decimal_keys_spelled_differently_are_one_key(postgres_dsn, postgres_schema):
    events = [{"k": k, "v": i} for i, k in enumerate([Decimal("1.5"), "1.50", Decimal("1.504"), 1.5])]
    rows, _ = _written(postgres_dsn, postgres_schema, {"k": "decimal(38,2)", "v": "int"}, events, key=["k"])
    assert rows == [(Decimal("1.50"), 3)]


@pytest.mark.parametrize(("options", "message"), [
    ({"table": "t" * 53, "columns": {"id": "int"}}, r"table name 't{40}\.\.\.' is 53 bytes; .* at most 52 bytes"),
    ({"tables": {"é" * 27: {"key": ["id"], "columns": {"id": "int"}}}}, r"table name .* is 54 bytes; .* at most 52"),
    ({"table": "t", "columns": {"c" * 64: "int"}}, r"column name .* is 64 bytes; .* at most 63 bytes"),
    ({"table": "t\x00x", "columns": {"id": "int"}}, r"table name 't\\x00x' holds a NUL character"),
    ({"table": "t", "schema": "s\x00", "columns": {"id": "int"}}, r"schema name 's\\x00' holds a NUL character"),
])
def test_a_name_postgresql_would_cut_or_cannot_hold_is_refused_when_the_sink_is_built(options, message):
    with pytest.raises(ConnectorError, match="^postgres sink: " + message):
        postgres_sink("postgresql://nobody@127.0.0.1:1/none", **options)


def test_the_longest_names_postgresql_keeps_are_written_and_checked_again_on_the_next_start(postgres_dsn,
                                                                                            postgres_schema):
    table, column = "t" * 52, "c" * 63
    for value in (1, 2):  # the second start finds the table it created, under its whole name
        sink = postgres_sink(postgres_dsn, postgres_schema, table, columns={column: "int"}, mode="upsert", key=[column])
        part = open_part(sink)
        part.write_batch([[{column: value}]])
        part.close()
    assert query(postgres_dsn, postgres_schema, f'SELECT "{column}" FROM "{table}" ORDER BY 1') == [(1,), (2,)]


def test_a_schema_name_holding_a_quote_is_found_by_query_and_the_plan(postgres_dsn):
    """The search_path of ``velocity-flow query`` and of ``deploy --plan`` quotes the schema as SQL
    does (quotes doubled): a name holding '"' broke both."""
    import psycopg

    from engine.connectors.postgres_plan import plan_tables
    from engine.connectors.postgres_query import query as served

    schema = 'we"ird ' + os.urandom(4).hex()
    quoted = '"' + schema.replace('"', '""') + '"'
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {quoted}")
        conn.execute(f"CREATE TABLE {quoted}.t (id bigint PRIMARY KEY, v text)")
        conn.execute(f"INSERT INTO {quoted}.t VALUES (1, 'x')")
    try:
        assert served(postgres_dsn, schema, "SELECT id, v FROM t")["rows"] == [[1, "x"]]
        plans = plan_tables({"s": {"dsn": postgres_dsn, "schema": schema, "table": "t", "mode": "upsert",
                                   "key": ["id"], "columns": {"id": "int", "v": "str"}}})
        assert [p.line() for p in plans] == ["postgres sink 's': table 't' exists as declared"]
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {quoted} CASCADE")


def test_names_postgresql_would_cut_are_found_by_validate_at_their_line(tmp_path):
    """The sink refuses them when built (above); validate says so first, at the name's line."""
    from engine.binding import validate_text

    long_table, long_column = "t" * 53, "c" * 64
    text = ("version: 1\nname: n\nsources: {s: {file: {path: in.jsonl}}}\nsinks:\n"
            f"  o: {{from: s, postgres: {{dsn: '', table: {long_table}, columns: {{a: int}}}}}}\n"
            f"  p: {{from: s, postgres: {{dsn: '', table: t, columns: {{{long_column}: int}}}}}}\n"
            f"  q: {{from: s, postgres: {{dsn: '', tables: {{{long_table}: {{key: [a], columns: {{a: int}}}}}}}}}}\n"
            "  r: {from: s, postgres: {dsn: '', table: t, schema: \"" + "s" * 64 + "\", columns: {a: int}}}\n")
    result = validate_text(str(tmp_path / "t.yaml"), text, env={})
    found = sorted((d.line, d.message.split(" is ")[0]) for d in result.diagnostics if d.severity == "error")
    assert found == [(5, f"table name '{long_table[:40]}...'"), (6, f"column name '{long_column[:40]}...'"),
                     (7, f"table name '{long_table[:40]}...'"), (8, f"schema name '{'s' * 40}...'")], found
    fine = text.replace(long_table, "t" * 52).replace(long_column, "c" * 63).replace("s" * 64, "s" * 63)
    assert not [d for d in validate_text(str(tmp_path / "t.yaml"), fine, env={}).diagnostics if d.severity == "error"]
