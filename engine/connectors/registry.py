"""Connector kinds by their YAML name; built as ``cls(**options, metrics=counters)``.

DuckDB is imported only when a topology uses it (the class is resolved on first lookup).
"""

from __future__ import annotations

from engine.connectors.files import JsonlSink, JsonlSource
from engine.connectors.stdout import StdoutSink


def _duckdb_sink(**options):
    from engine.connectors.duckdb import DuckDBSink

    return DuckDBSink(**options)


SOURCES = {
    "file": JsonlSource,
}

SINKS = {
    "file": JsonlSink,
    "stdout": StdoutSink,
    "duckdb": _duckdb_sink,
}
