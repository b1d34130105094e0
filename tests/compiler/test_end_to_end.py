"""A topology file run end to end through Bytewax: exact sink contents and dead letters."""

import json
from decimal import Decimal

import pytest

from engine.metrics import MetricsRegistry
from engine.runtime.runner import RunFailed, RunOptions

LINES = [
    '{"id": "1", "status": "new", "kg": "12.5", "city": "Milano"}',
    '{"id": "2", "status": "draft", "kg": "3", "city": "Roma"}',
    'not json at all',
    '{"id": "3", "status": "new", "kg": "1500", "city": "Torino"}',
    '{"id": "x", "status": "new", "kg": "1", "city": "Bari"}',
    '{"id": "1", "status": "planned", "kg": "13", "city": "Milano"}',
    '',
    '{"id": "4", "status": "new", "kg": "abc", "city": "Napoli"}',
]

TOPOLOGY = """\
version: 1
name: e2e
sources:
  orders: {{file: {{path: "{dir}/in.jsonl"}}}}
steps:
  - id: parse
    cast: {{fields: {{id: int, kg: "decimal(8,2)"}}}}
  - id: active
    filter: "status != 'draft'"
  - id: domain
    map:
      fields: {{id: id, status: upper(status), kg: kg, city: city}}
  - id: size
    route: {{when: {{heavy: "kg >= 1000"}}, otherwise: light}}
sinks:
  table:
    from: domain
    duckdb: {{path: "{dir}/out.duckdb", table: orders, mode: upsert, key: [id],
             columns: {{id: int, status: str, kg: "decimal(8,2)", city: str}}}}
  heavy: {{from: size.heavy, file: {{path: "{dir}/heavy.jsonl"}}}}
  light: {{from: size.light, file: {{path: "{dir}/light.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_topology_runs_to_exact_outputs(flow):
    metrics = MetricsRegistry()
    flow.write("in.jsonl", LINES)
    ran = flow.run(TOPOLOGY, metrics=metrics)
    rows = ran.table("table", "SELECT id, status, kg, city FROM orders ORDER BY id")
    assert rows == [(1, "PLANNED", Decimal("13.00"), "Milano"), (3, "NEW", Decimal("1500.00"), "Torino")]
    assert ran.rows("heavy") == [{"id": 3, "status": "NEW", "kg": 1500.00, "city": "Torino"}]
    assert [e["id"] for e in ran.rows("light")] == [1, 1]
    dead = ran.dead
    assert [(d["step"], d["origin"], d["error"].split(":")[0]) for d in dead] == [
        ("orders", f"{flow.dir}/in.jsonl:3", "malformed JSON"),
        ("parse", f"{flow.dir}/in.jsonl:5", "cannot cast field 'id' value 'x' to int"),
        ("parse", f"{flow.dir}/in.jsonl:8", "cannot cast field 'kg' value 'abc' to decimal(8,2)"),
    ]
    assert dead[1]["event"] == json.loads(LINES[4])
    counters = metrics.snapshot()
    assert (counters["parse"].events_in, counters["parse"].events_out, counters["parse"].dead) == (6, 4, 2)
    assert (counters["active"].events_in, counters["active"].events_out) == (4, 3)


def test_two_workers_give_the_same_result(flow):
    flow.write("in.jsonl", LINES)
    ran = flow.run(TOPOLOGY, RunOptions(workers=2))
    assert ran.table("table", "SELECT id, status FROM orders ORDER BY id") == [(1, "PLANNED"), (3, "NEW")]
    assert len(ran.dead) == 3


def test_a_restart_with_recovery_neither_loses_nor_duplicates(flow):
    flow.write("in.jsonl", LINES)
    options = RunOptions(recovery_directory=str(flow.dir / "recovery"))
    ran = flow.run(TOPOLOGY, options)
    first = ran.text("light"), ran.text("dead_letter")
    flow.run(TOPOLOGY, options)  # resumes after the end: nothing new, nothing lost
    assert (ran.text("light"), ran.text("dead_letter")) == first
    assert ran.table("table", "SELECT count(*) FROM orders") == [(2,)]


def test_a_missing_input_fails_with_one_clear_line(flow):
    flow.write("in.jsonl", LINES)
    text = TOPOLOGY.replace("{dir}/in.jsonl", "{dir}/nothing-here.jsonl")
    with pytest.raises(Exception) as caught:
        flow.run(text)
    assert "nothing-here.jsonl" in str(caught.value)
    assert isinstance(caught.value, (RunFailed, OSError)) or "ConnectorError" in type(caught.value).__name__
