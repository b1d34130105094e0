"""Reading what the PostgreSQL sink wrote, for the tests of tests/connectors/test_postgres*.py."""

from __future__ import annotations

from typing import List

import psycopg

from connector_flows import Encoding


def query(dsn: str, schema: str, sql: str, params=None) -> List[tuple]:
    with psycopg.connect(dsn, options=f"-c search_path={schema} -c TimeZone=UTC") as conn:
        return conn.execute(sql, params).fetchall()


def execute(dsn: str, schema: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        for statement in statements:
            conn.execute(statement)


def open_part(sink) -> Encoding:
    """A partition of the sink fed with events (encoded first, as the compiler does)."""
    return Encoding(sink, sink.build_part("sink", sink.path, None))
