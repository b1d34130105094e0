"""The registry builds connectors from YAML options plus counters, and stays apart from YAML."""

from __future__ import annotations

import ast
import pathlib

from engine.connectors.registry import SINKS, SOURCES
from engine.metrics import StepCounters

CONNECTORS = pathlib.Path(__file__).resolve().parents[2] / "engine" / "connectors"
FORBIDDEN = ("ruamel", "engine.topology", "engine.compiler", "cli")


def test_kinds():
    assert set(SOURCES) == {"file", "kafka"}
    assert set(SINKS) == {"file", "stdout", "duckdb", "kafka"}


def test_every_kind_builds_from_options_and_metrics(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    counters = StepCounters("x")
    built = [
        SOURCES["file"](path=str(tmp_path / "a.jsonl"), batch_size=10, metrics=counters),
        SINKS["file"](path=str(tmp_path / "o.jsonl"), mode="append", metrics=counters),
        SINKS["stdout"](format="pretty", metrics=counters),
        SINKS["duckdb"](path=str(tmp_path / "o.duckdb"), table="t", columns={"a": "int"}, metrics=counters),
    ]
    assert [type(c).__name__ for c in built] == ["JsonlSource", "JsonlSink", "StdoutSink", "DuckDBSink"]


def test_connectors_import_no_yaml_topology_compiler_or_cli():
    offenders = []
    for path in CONNECTORS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n == "cli" or n.startswith(tuple(f + "." for f in FORBIDDEN) + FORBIDDEN[:3])]
    assert offenders == []


def test_importing_the_package_does_not_load_duckdb():
    import subprocess
    import sys

    code = "import sys, engine.connectors.registry; print('duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=CONNECTORS.parents[1],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
