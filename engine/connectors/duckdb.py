"""A DuckDB table sink: one transaction per batch, inserted through an Arrow table.

DuckDB allows one writing process per database file, so the sink has a single partition and
one connection; other processes query the database through the flow (``duckdb_live``). Rows
go in as one ``INSERT ... SELECT`` from a registered Arrow table, which measured ~290k rows/s
against ~2k rows/s for ``executemany`` (an upsert of a batch holding Debezium's placeholders of
unchanged values: one per set of columns its rows keep, ``unchanged``).

Columns, their types and the per-value checks are in ``duckdb_columns``: events are encoded
into checked rows before the batch reaches the writer (``encoder``), so a value DuckDB would
refuse dead-letters its own event and an ``INSERT`` can only fail when the database does.

Delivery: ``upsert`` is idempotent, so replays after recovery are effectively once; ``append``
is at-least-once (a replayed batch is inserted again).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, TypeVar

import duckdb
from bytewax.outputs import StatefulSinkPartition

from engine.connectors.duckdb_columns import Column, arrow_table
from engine.connectors.duckdb_live import roll_back, serve
from engine.connectors.errors import ConnectorError
from engine.connectors.row_encoding import row_encoder
from engine.connectors.table_specs import single_table
from engine.connectors.table_sql import column_differences, create_sql, insert_sql, key_difference, quote
from engine.connectors.unchanged import Part, Unchanged, parts_to_write
from engine.connectors.wiring import SinglePartitionSink
from engine.metrics import StepCounters

_BATCH_VIEW = "__velocity_flow_batch"
# How DuckDB's information_schema spells the types we create.
_REPORTED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
_Item = TypeVar("_Item")


class DuckDBWriter(StatefulSinkPartition[_Item, None]):
    """A sink partition owning its file's one connection (``_con``) and the query server on it
    (``_server``, engine/connectors/duckdb_live.py). No state: a batch replayed after recovery
    is written again (an upsert changes nothing the second time)."""

    _con: "duckdb.DuckDBPyConnection"
    _server: Optional[Any]

    def _unregister_batch(self) -> None:
        """Drop the batch's view, after its transaction; a failed write keeps its own error
        (the next batch registers the view again)."""
        try:
            self._con.unregister(_BATCH_VIEW)
        except duckdb.Error:
            pass

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._con.close()


class _TableWriter(DuckDBWriter[List[tuple]]):
    """Owns the connection; writes every ``write_batch`` call in one transaction."""

    def __init__(self, sink: "DuckDBSink") -> None:
        self._sink = sink
        self._columns = sink.column_specs
        self._con = _connect(sink.path)
        try:
            ensure_table(self._con, sink.table, self._columns, sink.key)
        except BaseException:
            self._con.close()
            raise
        self._server = serve(sink.path, self._con)  # velocity-flow query, while the flow writes
        self._insert = insert_sql(sink.table, self._columns, sink.key, quote(_BATCH_VIEW))
        names = [c.name for c in self._columns]
        self._key_positions = [names.index(k) for k in sink.key or []]
        self._unchanged = Unchanged(self._columns, sink.key)

    def write_batch(self, values: List[List[tuple]]) -> None:
        parts, count = parts_to_write(values, self._key_positions, self._unchanged)
        if not parts:
            return
        self._write(parts)
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=count, events_out=count)

    def _write(self, parts: List[Part]) -> None:
        """One transaction: each part's rows, leaving the columns it keeps out of the update
        (engine/connectors/unchanged.py; one part keeping none, unless the batch holds placeholders)."""
        arrows = [(kept, arrow_table(self._columns, rows)) for kept, rows in parts]
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for n, (kept, arrow) in enumerate(arrows):
                if n:
                    con.unregister(_BATCH_VIEW)
                con.register(_BATCH_VIEW, arrow)
                con.execute(insert_sql(self._sink.table, self._columns, self._sink.key, quote(_BATCH_VIEW), keep=kept)
                            if kept else self._insert)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            roll_back(con)
            rows = sum(arrow.num_rows for _, arrow in arrows)
            raise ConnectorError(f"duckdb sink: writing {rows} events into '{self._sink.table}' failed "
                                 f"(nothing written): {str(exc).splitlines()[0]}") from None
        finally:
            self._unregister_batch()


def _connect(path: str) -> "duckdb.DuckDBPyConnection":
    parent = os.path.dirname(path)
    try:
        if parent:
            os.makedirs(parent, exist_ok=True)
        con = duckdb.connect(path)
    except (OSError, duckdb.Error) as exc:
        raise ConnectorError(f"duckdb sink: cannot open '{path}': {str(exc).splitlines()[0]}") from None
    con.execute("SET TimeZone = 'UTC'")
    return con


def ensure_table(con, table: str, columns: List[Column], key: Optional[List[str]]) -> None:
    """Create the table when missing; otherwise check it has exactly our columns (and key).
    DuckDB's refusal (two column names equal but for case, an empty name) is one line, not a traceback."""
    try:
        _ensure_table(con, table, columns, key)
    except duckdb.Error as exc:
        raise ConnectorError(f"duckdb sink: cannot create table '{table}': {str(exc).splitlines()[0]}") from None


def _ensure_table(con, table: str, columns: List[Column], key: Optional[List[str]]) -> None:
    existing = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE lower(table_name) = lower(?) AND table_schema = current_schema() "
        "ORDER BY ordinal_position", [table]).fetchall()
    if not existing:
        con.execute(create_sql(table, columns, key))
        return
    problems = column_differences(dict(existing), columns, _REPORTED)
    if key:
        problems += key_differences(con, table, key)
    if problems:
        raise ConnectorError(f"duckdb sink: table '{table}' exists with other columns: "
                             + "; ".join(problems))


def key_differences(con, table: str, key: List[str]) -> List[str]:
    """Upsert needs a primary key on exactly the key columns (ON CONFLICT relies on it)."""
    rows = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE lower(table_name) = lower(?) AND schema_name = current_schema() "
        "AND constraint_type = 'PRIMARY KEY'", [table]).fetchall()
    return key_difference(list(rows[0][0]) if rows else [], key)


class DuckDBSink(SinglePartitionSink[List[tuple], None]):
    """Events into a DuckDB table (created from ``columns`` when missing).

    Items must be ``(key, batch)`` pairs (see ``engine.connectors.wiring.output``).
    """

    def __init__(self, path: str, table: str, columns: Optional[Dict[str, str]] = None,
                 mode: str = "append", key: Optional[List[str]] = None,
                 metrics: Optional[StepCounters] = None) -> None:
        self.column_specs, self.key = single_table("duckdb sink", table, columns, mode, key, Column.in_duckdb)
        self.path = path
        self.table = table
        self.mode = mode
        self.metrics = metrics

    def encoder(self) -> Callable[[dict], tuple]:
        """``event -> row`` checked against the columns; run before the batch goes out."""
        return row_encoder(self.column_specs, self.table, self.key or ())

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TableWriter:
        return _TableWriter(self)

