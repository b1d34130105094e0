"""A topology file run end to end through Bytewax: exact sink contents and dead letters."""

import json
import textwrap
from decimal import Decimal

import duckdb
import pytest

from engine.compiler import compile_topology
from engine.metrics import MetricsRegistry
from engine.runtime.runner import RunFailed, RunOptions, run_dataflow
from engine.topology.validate import validate_text

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


def compiled(tmp_path, text=TOPOLOGY, metrics=None):
    (tmp_path / "in.jsonl").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    result = validate_text("e2e.yaml", textwrap.dedent(text.format(dir=tmp_path)), env={})
    assert result.ok, [d.message for d in result.diagnostics]
    return compile_topology(result.topology, metrics)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_topology_runs_to_exact_outputs(tmp_path):
    metrics = MetricsRegistry()
    run_dataflow(compiled(tmp_path, metrics=metrics), RunOptions())
    rows = duckdb.connect(str(tmp_path / "out.duckdb")).execute(
        "SELECT id, status, kg, city FROM orders ORDER BY id").fetchall()
    assert rows == [(1, "PLANNED", Decimal("13.00"), "Milano"), (3, "NEW", Decimal("1500.00"), "Torino")]
    assert read_jsonl(tmp_path / "heavy.jsonl") == [{"id": 3, "status": "NEW", "kg": 1500.00, "city": "Torino"}]
    assert [e["id"] for e in read_jsonl(tmp_path / "light.jsonl")] == [1, 1]
    dead = read_jsonl(tmp_path / "dead.jsonl")
    assert [(d["step"], d["origin"], d["error"].split(":")[0]) for d in dead] == [
        ("orders", f"{tmp_path}/in.jsonl:3", "malformed JSON"),
        ("parse", f"{tmp_path}/in.jsonl:5", "cannot cast field 'id' value 'x' to int"),
        ("parse", f"{tmp_path}/in.jsonl:8", "cannot cast field 'kg' value 'abc' to decimal(8,2)"),
    ]
    assert dead[1]["event"] == json.loads(LINES[4])
    counters = metrics.snapshot()
    assert (counters["parse"].events_in, counters["parse"].events_out, counters["parse"].dead) == (6, 4, 2)
    assert (counters["active"].events_in, counters["active"].events_out) == (4, 3)


def test_two_workers_give_the_same_result(tmp_path):
    run_dataflow(compiled(tmp_path), RunOptions(workers=2))
    rows = duckdb.connect(str(tmp_path / "out.duckdb")).execute("SELECT id, status FROM orders ORDER BY id").fetchall()
    assert rows == [(1, "PLANNED"), (3, "NEW")]
    assert len(read_jsonl(tmp_path / "dead.jsonl")) == 3


def test_a_restart_with_recovery_neither_loses_nor_duplicates(tmp_path):
    options = RunOptions(recovery_directory=str(tmp_path / "recovery"))
    run_dataflow(compiled(tmp_path), options)
    first = (tmp_path / "light.jsonl").read_text(), (tmp_path / "dead.jsonl").read_text()
    run_dataflow(compiled(tmp_path), options)  # resumes after the end: nothing new, nothing lost
    assert ((tmp_path / "light.jsonl").read_text(), (tmp_path / "dead.jsonl").read_text()) == first
    count = duckdb.connect(str(tmp_path / "out.duckdb")).execute("SELECT count(*) FROM orders").fetchone()
    assert count == (2,)


def test_a_missing_input_fails_with_one_clear_line(tmp_path):
    text = TOPOLOGY.replace("{dir}/in.jsonl", "{dir}/nothing-here.jsonl")
    with pytest.raises(Exception) as caught:
        run_dataflow(compiled(tmp_path, text), RunOptions())
    assert "nothing-here.jsonl" in str(caught.value)
    assert isinstance(caught.value, (RunFailed, OSError)) or "ConnectorError" in type(caught.value).__name__
