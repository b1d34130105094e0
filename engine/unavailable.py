"""Debezium's placeholder for an unchanged TOAST value, as events and table rows carry it.

With PostgreSQL's default ``REPLICA IDENTITY``, an update that leaves a large (TOASTed) value
unchanged does not carry it, and Debezium's PostgreSQL connector writes a placeholder instead
(``unavailable.value.placeholder``, default ``__debezium_unavailable_value``; PG connector docs,
*Toasted values*): that text in text, json/jsonb and hstore columns, ``[placeholder]`` in text
and json arrays, and the placeholder's bytes as integers in int, bigint and date arrays. The
``debezium`` step keeps each as sent (docs/debezium.md); the table sinks' upserts keep the
value their table holds for a column that carries one (engine/connectors/unchanged.py).
"""

from __future__ import annotations

UNAVAILABLE = "__debezium_unavailable_value"
UNAVAILABLE_ARRAYS = ([UNAVAILABLE], list(UNAVAILABLE.encode()))
# The same values in a table sink's `json` column: the compact JSON text the sinks write for
# them (engine/connectors/jsonl.py's encode_value; tests/connectors/test_unchanged.py checks it)
UNAVAILABLE_JSON = (f'"{UNAVAILABLE}"', f'["{UNAVAILABLE}"]', "[" + ",".join(map(str, UNAVAILABLE.encode())) + "]")
