"""Connector kinds by their YAML name; built as ``cls(**options, metrics=counters)``.

DuckDB and confluent-kafka are imported only when a topology uses them (the class is resolved on first lookup).
"""

from __future__ import annotations

from engine.connectors.files import JsonlSink, JsonlSource
from engine.connectors.stdout import StdoutSink


def _duckdb_sink(**options):
    if "tables" in options:  # row changes into several tables, one transaction per batch
        from engine.connectors.duckdb_tables import DuckDBTablesSink

        return DuckDBTablesSink(**options)
    from engine.connectors.duckdb import DuckDBSink

    return DuckDBSink(**options)


def _kafka_source(**options):
    from engine.connectors.kafka import KafkaSource

    return KafkaSource(**options)


def _kafka_sink(**options):
    from engine.connectors.kafka import KafkaSink

    return KafkaSink(**options)


SOURCES = {
    "file": JsonlSource,
    "kafka": _kafka_source,
}

SINKS = {
    "file": JsonlSink,
    "stdout": StdoutSink,
    "duckdb": _duckdb_sink,
    "kafka": _kafka_sink,
}
