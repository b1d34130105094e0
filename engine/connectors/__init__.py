"""Connectors: where events come from (sources) and where they go (sinks).

Each connector is a Bytewax source or sink built from the YAML options of one topology entry
(``cls(**options, metrics=...)``, see ``registry.py``). Connectors know records, Bytewax and
their storage library, never YAML, the topology model or the CLI. Nothing is imported here so
that ``import engine.connectors`` does not load DuckDB.
"""
