"""The catalog builds connectors from YAML options plus counters; connectors stay apart from YAML."""

from __future__ import annotations

import ast
import pathlib

from engine.catalog import components
from engine.compiler.connectors import connector
from engine.metrics import StepCounters

CONNECTORS = pathlib.Path(__file__).resolve().parents[2] / "engine" / "connectors"
FORBIDDEN = ("ruamel", "engine.topology", "engine.compiler", "cli")


def test_kinds():
    assert set(components("source")) == {"file", "kafka"}
    assert set(components("sink")) == {"file", "stdout", "duckdb", "postgres", "kafka"}


def test_every_kind_builds_from_options_and_metrics(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    counters = StepCounters("x")
    built = [
        connector("source", "file", {"path": str(tmp_path / "a.jsonl"), "batch_size": 10}, counters),
        connector("sink", "file", {"path": str(tmp_path / "o.jsonl"), "mode": "append"}, counters),
        connector("sink", "stdout", {"format": "pretty"}, counters),
        connector("sink", "duckdb", {"path": str(tmp_path / "o.duckdb"), "table": "t", "columns": {"a": "int"}}, counters),
        connector("sink", "duckdb", {"path": str(tmp_path / "o.duckdb"),
                                     "tables": {"t": {"key": ["a"], "columns": {"a": "int"}}}}, counters),
        connector("sink", "postgres", {"dsn": "host=db", "table": "t", "columns": {"a": "int"}}, counters),
        connector("sink", "postgres", {"tables": {"t": {"key": ["a"], "columns": {"a": "int"}}}}, counters),
    ]
    assert [type(c).__name__ for c in built] == ["JsonlSource", "JsonlSink", "StdoutSink", "DuckDBSink",
                                                 "DuckDBTablesSink", "PostgresSink", "PostgresTablesSink"]
    assert all(c.metrics is counters for c in built[-2:])  # built without connecting


def test_connectors_import_no_yaml_topology_compiler_or_cli():
    offenders = []
    for path in CONNECTORS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n == "cli" or n.startswith(tuple(f + "." for f in FORBIDDEN) + FORBIDDEN[:3])]
    assert offenders == []


def test_the_catalog_does_not_load_duckdb_kafka_or_psycopg_until_a_topology_uses_them():
    import subprocess
    import sys

    code = ("import sys, engine.catalog, engine.compiler.connectors; "
            "print('duckdb' in sys.modules, 'confluent_kafka' in sys.modules, 'psycopg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=CONNECTORS.parents[1],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
