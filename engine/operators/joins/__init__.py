"""Joins and enrichment, one module per kind (docs/joins.md): ``stream_table`` (``join``: each
event enriched with the current row of its key in a changelog kept as keyed state), ``lookup``
(a row of a DuckDB table read by key, cached) and ``interval`` (``interval_join``: two streams
on event time). ``base`` is what the two-input keyed steps are to the compiler."""
