"""A PostgreSQL table sink: one transaction per batch, written with ``COPY``.

The same modes as the DuckDB sink (``duckdb.py``), over psycopg 3: ``append`` copies the
batch into the table; ``upsert`` copies it into a temporary staging table, then one
``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE`` moves it (the last event of a key in a
batch wins; a batch holding Debezium's placeholders of unchanged values moves in one statement
per set of columns its rows keep, ``unchanged``). Columns and their checks are
``postgres_columns``'s: events are encoded into checked rows before the batch reaches the
writer, so a value PostgreSQL would refuse dead-letters its own event and the rest of the
batch commits. The table is created when missing, otherwise checked against the declared
columns (and key) when the flow starts: a difference stops it with one line naming the sink.
The connection (DSN, environment, reconnecting) is ``postgres_connection``'s.

Delivery: ``upsert`` is idempotent, so replays after recovery are effectively once; ``append``
is at-least-once (a replayed batch is inserted again). Several processes may write one table
(deploy's shares): an upsert's batches take turns (``WRITE_LOCK``), appends do not need to.

Several tables (row changes, positions, views) are ``postgres_tables.py``.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Union

import psycopg
from bytewax.outputs import StatefulSinkPartition

from engine.connectors.duckdb_columns import Column
from engine.connectors.errors import ConnectorError
from engine.connectors.postgres_columns import SIDE_PREFIX_BYTES, check_name, pg_column
from engine.connectors.postgres_connection import WRITE_LOCK, Connection, write_lock_name
from engine.connectors.postgres_plan import conflict_message, table_problems
from engine.connectors.row_encoding import row_encoder
from engine.connectors.table_specs import single_table
from engine.connectors.table_sql import create_sql, insert_sql, quote
from engine.connectors.unchanged import Part, Unchanged, parts_to_write
from engine.connectors.wiring import SinglePartitionSink
from engine.durations import parse_duration
from engine.metrics import StepCounters

LABEL = "postgres sink"
STAGE_PREFIX = "__vf_stage_"

def ensure_table(conn: psycopg.Connection, table: str, columns: List[Column], key: Optional[List[str]]) -> None:
    """Create the table when missing; otherwise check it has exactly our columns (and key):
    postgres_plan's check, which ``deploy`` makes before the flow starts."""
    problems = table_problems(conn, table, columns, key)
    if problems is None:
        conn.execute(create_sql(table, columns, key))
    elif problems:
        raise ConnectorError(f"{LABEL}: {conflict_message(table, problems)}")


def create_stage(conn: psycopg.Connection, name: str, columns: List[Column]) -> None:
    """A temporary table of these columns, emptied at every commit: where a batch lands first."""
    parts = ", ".join(f"{quote(c.name)} {c.sql_type}" for c in columns)
    conn.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(name)} ({parts}) ON COMMIT DELETE ROWS")


def copy_rows(conn: psycopg.Connection, table: str, columns: List[Column], rows: List[tuple]) -> None:
    """``COPY table (columns) FROM STDIN`` of checked rows."""
    names = ", ".join(quote(c.name) for c in columns)
    with conn.cursor() as cur, cur.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seconds(value: Union[str, float]) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_duration(value).total_seconds()
    except ValueError:
        raise ConnectorError(f"{LABEL}: reconnect '{value}' is not a duration (e.g. 30s, 2m)") from None


class _TableWriter(StatefulSinkPartition[List[tuple], None]):
    """Owns the connection; writes every ``write_batch`` call in one transaction."""

    def __init__(self, sink: "PostgresSink") -> None:
        self._sink = sink
        self._columns = sink.column_specs
        self._stage = STAGE_PREFIX + sink.table
        self._insert = insert_sql(sink.table, self._columns, sink.key, quote(self._stage), cast=False)  # same types
        names = [c.name for c in self._columns]
        self._key_positions = [names.index(k) for k in sink.key or []]
        self._unchanged = Unchanged(self._columns, sink.key)
        self._lock = [write_lock_name(sink.schema, [sink.table])]
        self._con = Connection(sink.dsn, sink.schema, LABEL, sink.reconnect, self._prepare)
        self._con.open()

    def _prepare(self, conn: psycopg.Connection) -> None:
        ensure_table(conn, self._sink.table, self._columns, self._sink.key)
        if self._sink.key:
            create_stage(conn, self._stage, self._columns)

    def write_batch(self, values: List[List[tuple]]) -> None:
        parts, count = parts_to_write(values, self._key_positions, self._unchanged)
        if not parts:
            return
        rows = sum(len(part) for _, part in parts)
        self._con.transaction(lambda conn: self._write(conn, parts),
                              f"writing {rows} events into '{self._sink.table}' (nothing written)")
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=count, events_out=count)

    def _write(self, conn: psycopg.Connection, parts: List[Part]) -> None:
        """Each part's rows, leaving the columns it keeps out of the update (engine/connectors/unchanged.py;
        one part keeping none, unless the batch holds placeholders)."""
        if not self._sink.key:
            copy_rows(conn, self._sink.table, self._columns, parts[0][1])
            return
        for n, (kept, rows) in enumerate(parts):
            copy_rows(conn, self._stage, self._columns, rows)
            with conn.pipeline():  # one round trip: the upsert under its table's lock (postgres_connection)
                if not n:
                    conn.execute(WRITE_LOCK, self._lock)
                conn.execute(insert_sql(self._sink.table, self._columns, self._sink.key, quote(self._stage),
                                        cast=False, keep=kept) if kept else self._insert)
                if n < len(parts) - 1:
                    conn.execute(f"DELETE FROM {quote(self._stage)}")  # the next part's turn

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._con.close()


class PostgresSink(SinglePartitionSink[List[tuple], None]):
    """Events into a PostgreSQL table (created from ``columns`` when missing).

    Items must be ``(key, batch)`` pairs (see ``engine.connectors.wiring.output``).
    """

    opens_on_fresh_run = True  # connect and check the table when the flow starts

    def __init__(self, table: str, dsn: str = "", schema: Optional[str] = None,
                 columns: Optional[Dict[str, str]] = None, mode: str = "append", key: Optional[List[str]] = None,
                 reconnect: Union[str, float] = "30s", metrics: Optional[StepCounters] = None) -> None:
        check_name("table", table, SIDE_PREFIX_BYTES)
        self.column_specs, self.key = single_table(LABEL, table, columns, mode, key, pg_column)
        self.dsn, self.schema, self.table, self.mode = dsn, schema, table, mode
        self.reconnect = seconds(reconnect)
        self.path = f"postgres:{schema or ''}.{table}"
        self.metrics = metrics

    def encoder(self) -> Callable[[dict], tuple]:
        """``event -> row`` checked against the columns; run before the batch goes out."""
        return row_encoder(self.column_specs, self.table, self.key or ())

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TableWriter:
        return _TableWriter(self)
