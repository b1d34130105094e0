"""PostgreSQL's NaN and infinities of a REAL / DOUBLE PRECISION column, which Debezium sends as
the text "NaN", "Infinity", "-Infinity": the debezium step reads them as floats
(engine.values.NonFiniteFloat), the DuckDB sink stores them as such, and the JSON sinks write
that text again. Before, a JSON sink (orjson) wrote null: a value changed silently."""

from __future__ import annotations

import json
import math

import duckdb
import orjson
import pytest

from engine.connectors.jsonl import encode_value
from engine.connectors.kafka_messages import batch_message_encoder
from engine.operators.debezium import Debezium
from engine.runtime.runner import RunOptions
from engine.values import NonFiniteFloat

TEXTS = ["NaN", "Infinity", "-Infinity"]


def _record(value, lsn: int = 1) -> dict:
    fields = [{"type": "int32", "optional": False, "field": "id"}, {"type": "double", "optional": True, "field": "x"}]
    struct = {"type": "struct", "optional": True, "fields": fields}
    return {"schema": {"type": "struct", "fields": [dict(struct, field="before"), dict(struct, field="after")]},
            "payload": {"op": "c", "before": None, "after": {"id": lsn, "x": value},
                        "source": {"table": "t", "txId": lsn, "lsn": lsn}, "ts_ms": 1}}


@pytest.mark.parametrize("text", TEXTS)
def test_the_json_sinks_write_the_text_debezium_sent(text):
    events, deads = Debezium("changes", {}).process([_record(text)])
    assert deads == []
    x = events[0]["after"]["x"]
    assert type(x) is NonFiniteFloat and (math.isnan(x) if text == "NaN" else x == float(text.lower()))
    assert json.loads(encode_value(events[0]["after"])) == {"id": 1, "x": text}
    encoded = batch_message_encoder("out", 1 << 20, lambda topic: None)([{"_key": "k", **events[0]["after"]}])
    assert orjson.loads(encoded[0][2]) == {"id": 1, "x": text}
    again, _ = Debezium("changes", {}).process([_record(json.loads(encode_value(events[0]["after"]))["x"])])
    assert repr(again[0]["after"]["x"]) == repr(x)  # a JSON hop and back: the same float


TOPOLOGY = """\
version: 1
name: nan
sources: {{cdc: {{file: {{path: "{dir}/in.jsonl"}}}}}}
steps: [{{id: changes, debezium: {{}}}}, {{id: rows, map: {{fields: {{id: after.id, x: after.x}}}}}}]
sinks:
  table: {{from: rows, duckdb: {{path: "{dir}/out.duckdb", table: t, mode: upsert, key: [id],
                                columns: {{id: int, x: float}}}}}}
  lines: {{from: rows, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_through_a_flow_duckdb_stores_the_floats_and_the_file_the_text(flow):
    flow.write("in.jsonl", [_record(text, n) for n, text in enumerate([*TEXTS, 1.5], 1)])
    ran = flow.run(TOPOLOGY, RunOptions(workers=1))
    assert ran.dead == []
    with duckdb.connect(str(flow.dir / "out.duckdb"), read_only=True) as con:
        stored = [x for _, x in con.execute("SELECT id, x FROM t ORDER BY id").fetchall()]
    assert math.isnan(stored[0]) and stored[1:] == [math.inf, -math.inf, 1.5]
    lines = [json.loads(line) for line in (flow.dir / "out.jsonl").read_text().splitlines()]
    assert sorted((e["id"], e["x"]) for e in lines) == [(1, "NaN"), (2, "Infinity"), (3, "-Infinity"), (4, 1.5)]


@pytest.mark.parametrize("text", TEXTS)
def test_a_cast_to_float_keeps_them_and_the_schema_check_sees_their_text(text):
    """``cast: float`` of such a value (it was "cannot convert NonFiniteFloat", a dead letter) keeps
    it, and a JSON schema sees the text the sinks write."""
    from engine.operators.cast import Cast
    from engine.operators.schema_view import round_trip

    (decoded,) = Debezium("d", {}).process([_record(text)])[0]
    events, deads = Cast("c", {"fields": {"after.x": "float"}}, None).process([decoded])
    assert not deads and type(events[0]["after"]["x"]) is NonFiniteFloat
    assert encode_value(events[0]["after"]["x"]) == f'"{text}"'.encode()
    assert round_trip(events[0]["after"]) == {"id": 1, "x": text}
