"""Debezium's placeholder for an unchanged TOAST value, as events and table rows carry it.

With PostgreSQL's default ``REPLICA IDENTITY``, an update that leaves a large (TOASTed) value
unchanged does not carry it, and Debezium's PostgreSQL connector writes a placeholder instead
(``unavailable.value.placeholder``, default ``__debezium_unavailable_value``; PG connector docs,
*Toasted values*): that text in text, json/jsonb and hstore columns, ``[placeholder]`` in text
and json arrays, and the placeholder's bytes as integers in int, bigint and date arrays. The
``debezium`` step keeps each as sent (docs/debezium.md); the table sinks' upserts keep the
value their table holds for a column that carries one (engine/connectors/unchanged.py), the
``join`` step's table side the row it holds (``kept``), ``with_previous`` the key's previous
event (``filled``).
"""

from __future__ import annotations

from typing import Optional

UNAVAILABLE = "__debezium_unavailable_value"
UNAVAILABLE_ARRAYS = ([UNAVAILABLE], list(UNAVAILABLE.encode()))
# The same values in a table sink's `json` column: the compact JSON text the sinks write for
# them (engine/connectors/jsonl.py's encode_value; tests/connectors/test_unchanged.py checks it)
UNAVAILABLE_JSON = (f'"{UNAVAILABLE}"', f'["{UNAVAILABLE}"]', "[" + ",".join(map(str, UNAVAILABLE.encode())) + "]")


def carries(row: dict) -> bool:
    """Whether a value of ``row`` is the placeholder: scans in C, comparing (a text of another
    length is told apart at once); the array forms only in a row that holds a list (each value's
    comparison with a list costs as much as with the text: half the time of a row without one)."""
    values = row.values()
    return UNAVAILABLE in values or (list in map(type, values) and (UNAVAILABLE_ARRAYS[0] in values
                                                                    or UNAVAILABLE_ARRAYS[1] in values))


def kept(row: dict, stored: Optional[dict]) -> dict:
    """``row`` with each placeholder replaced by ``stored``'s value of that field (the value the
    update left unchanged), or None when nothing is stored (the value is unknown)."""
    old = stored if type(stored) is dict else {}
    return {name: old.get(name) if value == UNAVAILABLE or value in UNAVAILABLE_ARRAYS else value
            for name, value in row.items()}


def filled(row: dict, stored: dict) -> dict:
    """``row`` with each placeholder replaced by ``stored``'s value of that field where ``stored``
    has the field; a placeholder of a field it lacks stays as sent (not null: the value is unknown,
    and a table sink keeps the value it holds for a placeholder)."""
    return {name: stored[name] if (value == UNAVAILABLE or value in UNAVAILABLE_ARRAYS) and name in stored else value
            for name, value in row.items()}
