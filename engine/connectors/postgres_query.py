"""``velocity-flow query`` on a ``postgres`` sink: one query in a read-only transaction.

PostgreSQL serves readers itself, so this is only a convenience: the sink's DSN, environment
and schema from the topology, a session whose transactions are read-only
(``default_transaction_read_only``: PostgreSQL refuses any write), the statement sent with the
extended protocol (one statement only), the transaction rolled back after. Readers see
committed batches only, each whole (one transaction per batch).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Dict, Optional

import psycopg
from psycopg.types.string import TextLoader

from engine.connectors.errors import QueryError
from engine.connectors.jsonl import encode_value
from engine.connectors.postgres_connection import describe
from engine.postgres_errors import first_line
from engine.sql_names import quote  # a schema name holding '"' would break the search_path


def query(dsn: str, schema: Optional[str], sql: str, timeout: float = 10) -> Dict[str, Any]:
    """``{"columns", "types", "rows"}`` of ``sql`` on the sink's database (values as JSON gives them)."""
    if not isinstance(sql, str) or not sql.strip():
        raise QueryError("the query is empty")
    target = describe(dsn)
    options = "-c default_transaction_read_only=on -c TimeZone=UTC"
    try:
        conn = psycopg.connect(dsn, connect_timeout=int(timeout), application_name="velocity-flow query",
                               options=options)
    except psycopg.Error as exc:
        raise QueryError(f"cannot connect to {target}: {first_line(exc)}") from None
    for name in ("timestamptz", "timestamp", "date"):  # as PostgreSQL prints them: infinity is no datetime
        conn.adapters.register_loader(name, TextLoader)
    try:
        with conn.cursor(binary=False) as cur:
            if schema:
                cur.execute("SELECT set_config('search_path', %s, true)", [f'{quote(schema)}, public'])
            cur.execute(sql.encode("utf-8"), prepare=False)  # type: ignore[call-overload]
            description = cur.description or []
            rows = cur.fetchall() if cur.description else []
        result = {"columns": [d.name for d in description], "types": [_type(conn, d.type_code) for d in description],
                  "rows": [list(r) for r in rows]}
    except psycopg.Error as exc:
        raise QueryError(first_line(exc)) from None
    finally:
        try:
            conn.rollback()
        except psycopg.Error:  # the connection broke: the query's own error (or its result) stands
            pass
        conn.close()
    return json.loads(encode_value(result), parse_float=Decimal)


def _type(conn: psycopg.Connection, oid: int) -> str:
    info = conn.adapters.types.get(oid)
    return info.name if info is not None else str(oid)
