"""Exact values into DuckDB and JSON Lines: jsonb numbers of any length (a ``json`` column is
their exact JSON text) and PostgreSQL's infinite timestamps (DuckDB's ``infinity`` /
``-infinity``; the text ``"infinity"`` / ``"-infinity"`` in JSON). docs/debezium.md,
*Special values*; docs/connectors.md, *DuckDB columns*."""

import json
from datetime import datetime, timezone
from decimal import Decimal

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors.duckdb_columns import Column, arrow_table
from engine.connectors.jsonl import encode_event
from engine.connectors.row_encoding import row_encoder
from engine.operators.debezium import json_text
from engine.runtime.runner import RunOptions
from engine.values import INFINITY, MINUS_INFINITY, parse_timestamp

UTC = timezone.utc
COLUMNS = [Column.of("id", "int"), Column.of("t", "timestamp"), Column.of("j", "json")]


def _stored(events):
    """The rows DuckDB gives back (timestamps and JSON as text) after the sink's conversion."""
    encode = row_encoder(COLUMNS, "x")
    batch = arrow_table(COLUMNS, [encode(e) for e in events])  # noqa: F841 - read by DuckDB by name
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE x (id BIGINT, t TIMESTAMPTZ, j JSON)")
    con.execute("INSERT INTO x SELECT * FROM batch")
    return con.execute("SELECT id, CAST(t AS VARCHAR), isinf(t), CAST(j AS VARCHAR) FROM x ORDER BY id").fetchall()


numbers = st.one_of(
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
    st.builds(lambda sign, whole, fraction: f"{sign}{whole}.{fraction}", st.sampled_from(["", "-"]),
              st.integers(0, 10 ** 22), st.from_regex(r"\A[0-9]{1,22}\Z")))


@settings(max_examples=150, deadline=None)
@given(st.lists(numbers, min_size=1, max_size=6))
def test_jsonb_numbers_round_trip_exactly_through_a_duckdb_json_column(literals):
    text = '{"n": [' + ", ".join(map(str, literals)) + "]}"
    decoded = json_text(text)  # what a Debezium Json column decodes to
    [(_, _, _, stored)] = _stored([{"id": 1, "j": decoded}])
    assert json.loads(stored, parse_float=Decimal) == json.loads(text, parse_float=Decimal)


def test_a_30_digit_integer_and_a_20_digit_decimal_are_their_digits_in_duckdb():
    decoded = json_text('{"big": 123456789012345678901234567890, "long": 1234567890.1234567891}')
    [(_, _, _, stored)] = _stored([{"id": 1, "j": decoded}])
    assert stored == '{"big":123456789012345678901234567890,"long":1234567890.1234567891}'


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([INFINITY, MINUS_INFINITY, "infinity", "-infinity"]),
       st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_infinite_timestamps_are_duckdbs_infinities_and_finite_ones_stay_exact(infinite, finite):
    rows = _stored([{"id": 1, "t": infinite}, {"id": 2, "t": finite}])
    sign = "-" if str(infinite).startswith("-") else ""
    assert rows[0][1:3] == (f"{sign}infinity", True)
    assert rows[1][2] is False and parse_timestamp(rows[1][1]) == finite


def test_json_lines_write_infinities_as_documented_text_that_reads_back():
    line = encode_event({"t": INFINITY, "u": MINUS_INFINITY, "d": Decimal("12345678901234567.123")})
    assert line == b'{"t":"infinity","u":"-infinity","d":12345678901234567.123}\n'
    back = json.loads(line)
    assert parse_timestamp(back["t"]) is INFINITY and parse_timestamp(back["u"]) is MINUS_INFINITY


TOPOLOGY = """\
version: 1
name: edges
sources:
  cdc: {{file: {{path: "{dir}/in.jsonl"}}}}
steps:
  - id: changes
    debezium: {{}}
  - id: rows
    map: {{fields: {{id: after.id, t: after.t, attrs: after.attrs, later: "after.t > timestamp('2024-01-01T00:00:00Z')"}}}}
sinks:
  table:
    from: rows
    duckdb: {{path: "{dir}/out.duckdb", table: r, mode: upsert, key: [id], columns: {{id: int, t: timestamp, attrs: json, later: bool}}}}
  lines: {{from: rows, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def _change(row_id, t, attrs):
    fields = [{"type": "int32", "field": "id"},
              {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "field": "t"},
              {"type": "string", "optional": True, "name": "io.debezium.data.Json", "field": "attrs"}]
    row = {"type": "struct", "optional": True, "fields": fields}
    return {"schema": {"type": "struct", "fields": [dict(row, field="before"), dict(row, field="after")]},
            "payload": {"op": "c", "before": None, "after": {"id": row_id, "t": t, "attrs": attrs},
                        "source": {"table": "r", "txId": 1, "lsn": row_id}, "ts_ms": 1}}


def test_a_topology_carries_infinities_and_long_numbers_into_duckdb_and_json_lines(flow):
    attrs = '{"big": 123456789012345678901234567890, "long": 12345678901234567.891}'
    lines = [_change(1, 9223372036825200000, attrs), _change(2, -9223372036832400000, None),
             _change(3, 1529507596945104, "[0.1]")]
    flow.write("in.jsonl", lines)
    ran = flow.run(TOPOLOGY, RunOptions(workers=1))
    assert ran.dead == []
    out = ran.text("lines").splitlines()
    assert out[0] == ('{"id":1,"t":"infinity","attrs":{"big":123456789012345678901234567890,'
                      '"long":12345678901234567.891},"later":true}')
    assert json.loads(out[1]) == {"id": 2, "t": "-infinity", "attrs": None, "later": False}
    rows = ran.table("table", "SELECT id, CAST(t AS VARCHAR), isinf(t), CAST(attrs AS VARCHAR), later FROM r ORDER BY id")
    assert rows[:2] == [(1, "infinity", True, '{"big":123456789012345678901234567890,"long":12345678901234567.891}', True),
                        (2, "-infinity", True, None, False)]
    assert rows[2][2] is False and rows[2][3] == "[0.1]"
