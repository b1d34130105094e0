"""What a PostgreSQL error means to a reader or writer that keeps one connection: lost (open
it again and retry, within a bounded time) or final. Shared by the postgres sinks' connection
(engine/connectors/postgres_connection.py) and the ``lookup`` that reads PostgreSQL
(engine/operators/joins/lookup_postgres.py); plain Python: psycopg's error and connection
objects are read by their attributes only.

Lost: psycopg's connection is broken or closed and the error has no SQLSTATE, or the SQLSTATE is
of class 08 (connection exception), 57 (operator intervention: a server shutting down) or 40
(transaction rollback)."""

from __future__ import annotations

from typing import Any

RETRIED_CLASSES = ("08", "57", "40")


def connection_lost(conn: Any, exc: Any) -> bool:
    """``exc`` (a ``psycopg.Error``) raised on ``conn`` (or None: not connected yet) is worth a
    new connection and a retry."""
    state = exc.sqlstate
    if conn is None or conn.closed or conn.broken:
        return state is None or state[:2] in RETRIED_CLASSES
    return state is not None and state[:2] in RETRIED_CLASSES


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (PostgreSQL's DETAIL and HINT lines left out)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
