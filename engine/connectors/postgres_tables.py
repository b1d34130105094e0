"""Row changes into several PostgreSQL tables at once, one transaction per written batch.

The same Fast Storage as the DuckDB sink's ``tables`` form (``duckdb_tables``): the row
changes and the batch's plan are ``table_specs``'s, the source-position rule and its side
tables ``_positions_<table>`` are ``duckdb_positions``'s (lsn as numeric(39,0)). Per table, the
batch is copied into a temporary staging table; in one transaction, the staged changes older
than the row's stored position are dropped, then deletes, upserts and positions are applied.
A change applied twice changes nothing: a batch replayed after recovery, or written again
after a lost commit confirmation, leaves the same state (effectively once). Several processes
may write the tables (deploy's shares): their batches take turns under one advisory lock, so the
position rule sees what the others committed.

Views (``views``) are created when the flow starts, after the tables (dropped and created
again, so a changed query may change its columns): each is one SELECT statement (the same
check as DuckDB's views, at validate time), sent with the extended query protocol, which
runs exactly one statement.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Union

import psycopg
from bytewax.outputs import StatefulSinkPartition

from engine.connectors.duckdb_positions import Positions, Winner, batch_rows
from engine.connectors.errors import ConnectorError
from engine.connectors.postgres import LABEL, STAGE_PREFIX, PostgresSink, copy_rows, create_stage, ensure_table, seconds
from engine.connectors.postgres_columns import POSITION_TYPES, SIDE_PREFIX_BYTES, check_name, pg_column
from engine.connectors.postgres_connection import WRITE_LOCK, Connection, describe, write_lock_name
from engine.connectors.table_specs import Change, TableSpec, change_encoder, check_names, plan_batch
from engine.connectors.table_sql import insert_sql, quote
from engine.connectors.wiring import SinglePartitionSink
from engine.metrics import StepCounters
from engine.postgres_errors import first_line


class _Table(TableSpec):
    def __init__(self, name: str, spec: dict) -> None:
        check_name("table", name, SIDE_PREFIX_BYTES)  # cut, _positions_ of two long names would be one table
        super().__init__(LABEL, name, spec, pg_column)
        self.positions = Positions(name, self.columns, self.key, LABEL, POSITION_TYPES)
        self.stage = STAGE_PREFIX + name
        self.staged = self.columns + self.positions.batch_extra
        stage, positions = quote(self.stage), self.positions
        self.source = f"{stage} WHERE NOT __vf_deleted"
        self.upsert = insert_sql(name, self.columns, self.key, self.source, cast=False)
        self.before = [  # the upsert's: drop what is older than what the row holds, delete
            (f"DELETE FROM {stage} b USING {quote(positions.name)} p "
             f"WHERE {positions.key_match('p', 'b')} AND NOT ({positions.applies_sql()})"),
            f"DELETE FROM {quote(name)} t USING {stage} d WHERE d.__vf_deleted AND {positions.key_match('t', 'd')}"]
        self.record = positions.record_sql(self.stage)


class _TablesWriter(StatefulSinkPartition[List[Change], None]):
    def __init__(self, sink: "PostgresTablesSink") -> None:
        self._sink = sink
        self._lock = [write_lock_name(sink.schema, sink.tables)]
        self._con = Connection(sink.dsn, sink.schema, LABEL, sink.reconnect, self._prepare)
        self._con.open()

    def _prepare(self, conn: psycopg.Connection) -> None:
        for table in self._sink.tables.values():
            ensure_table(conn, table.name, table.columns, table.key)
            ensure_table(conn, table.positions.name, table.positions.columns, table.key)
            create_stage(conn, table.stage, table.staged)
        for name, query in self._sink.views.items():
            try:
                with conn.transaction():
                    conn.execute(f"DROP VIEW IF EXISTS {quote(name)}")
                    conn.execute(f"CREATE VIEW {quote(name)} AS {query}", binary=True)  # one statement only
            except psycopg.Error as exc:
                if exc.sqlstate is None or exc.sqlstate[:2] in ("08", "57"):
                    raise  # the connection, not the view: reconnect
                raise ConnectorError(f"{LABEL}: view '{name}': {first_line(exc)}") from None

    def write_batch(self, values: List[List[Change]]) -> None:
        changes = [c for batch in values for c in batch]
        if not changes:
            return
        rounds, unchanged = plan_batch(self._sink.tables, changes)
        self._con.transaction(lambda conn: self._write(conn, rounds, unchanged),
                              f"writing a batch of {len(changes)} row changes (nothing written)")
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=len(changes), events_out=len(changes))

    def _write(self, conn: psycopg.Connection, rounds: List[Dict[_Table, Dict[tuple, Winner]]],
               unchanged: bool) -> None:
        """Each round (one unless the batch holds placeholders, table_specs.plan_batch) in one
        round trip, the first under the tables' lock."""
        for n, planned in enumerate(rounds):
            statements: List[str] = []
            for table, winners in planned.items():
                upserts = [table.upsert]
                if unchanged:  # upserted in spans (engine/connectors/unchanged.py)
                    winners, upserts = table.unchanged.upserts(winners, table.name, table.source, False, table.upsert)
                copy_rows(conn, table.stage, table.staged, batch_rows(winners))
                statements += [*table.before, *upserts, table.record]
                if n < len(rounds) - 1:
                    statements.append(f"DELETE FROM {quote(table.stage)}")  # the next round's turn
            with conn.pipeline():  # every statement of every table in one round trip
                if not n:  # first the tables' lock (postgres_connection): another writer's positions are then committed
                    conn.execute(WRITE_LOCK, self._lock)
                for statement in statements:
                    conn.execute(statement)

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._con.close()


class PostgresTablesSink(SinglePartitionSink[List[Change], None]):
    """Row changes into the declared ``tables`` ({name: {key, columns}}) of one database."""

    opens_on_fresh_run = True  # connect, check the tables and create the views when the flow starts

    def __init__(self, tables: Dict[str, dict], dsn: str = "", schema: Optional[str] = None,
                 views: Optional[Dict[str, str]] = None, reconnect: Union[str, float] = "30s",
                 metrics: Optional[StepCounters] = None) -> None:
        check_names(LABEL, tables)
        self.tables = {name: _Table(name, spec) for name, spec in tables.items()}
        self.dsn, self.schema, self.views = dsn, schema, dict(views or {})
        self.reconnect = seconds(reconnect)
        self.path = f"postgres:{schema or ''}"
        self.metrics = metrics

    def encoder(self) -> Callable[[dict], Change]:
        """``row change -> Change``, checked against its table; run before the batch goes out."""
        return change_encoder(self.tables)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TablesWriter:
        return _TablesWriter(self)


def postgres_sink(dsn: str = "", schema: Optional[str] = None, table: Optional[str] = None,
                  tables: Optional[Dict[str, dict]] = None, views: Optional[Dict[str, str]] = None,
                  columns: Optional[Dict[str, str]] = None, mode: str = "append", key: Optional[List[str]] = None,
                  reconnect: Union[str, float] = "30s", metrics: Optional[StepCounters] = None):
    """The ``postgres`` sink declared in engine/catalog/sinks.py: one table, or row changes into
    several tables (``tables``) applied in one transaction per batch."""
    describe(dsn)  # a DSN that is none fails here, before any connection
    if schema:
        check_name("schema", schema)
    if tables:
        return PostgresTablesSink(tables, dsn, schema, views, reconnect, metrics)
    if not table:
        raise ConnectorError(f"{LABEL}: needs 'table' or 'tables'")
    return PostgresSink(table, dsn, schema, columns, mode, key, reconnect, metrics)
