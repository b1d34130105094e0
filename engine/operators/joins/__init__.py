"""Joins, one module per kind: ``stream_table`` (an event stream enriched with the current row of
its key in a changelog). docs/joins.md describes their semantics."""
