"""Row changes into several DuckDB tables at once, one ACID transaction per written batch.

The row changes, their tables and the batch's plan (the change that stands for each key,
folded under the source-position rule) are ``table_specs``'s, shared with the PostgreSQL
sink; the positions are ``duckdb_positions``'s. In one transaction every table gets its
deletes, its upserts and its positions, each change only unless older than what the table
holds for that row (a delete leaves a tombstone with its position, so an older upsert
delivered later cannot bring the row back). A failure rolls the whole batch back: the tables
never show half of a batch (the seed's MicroBatch writing step). Applying a change twice
changes nothing, so a batch replayed after recovery leaves the same state: effectively once.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import duckdb

from engine.connectors.duckdb import _BATCH_VIEW, DuckDBSink, DuckDBWriter, _connect, ensure_table
from engine.connectors.duckdb_columns import Column
from engine.connectors.duckdb_live import roll_back, serve
from engine.connectors.duckdb_positions import Positions, Winner, batch_arrow
from engine.connectors.duckdb_view_checks import view_problem
from engine.connectors.errors import ConnectorError
from engine.connectors.table_specs import Change, TableSpec, change_encoder, check_names, plan_batch
from engine.connectors.table_sql import insert_sql, quote
from engine.connectors.wiring import SinglePartitionSink
from engine.metrics import StepCounters

_LABEL = "duckdb sink"


class _Table(TableSpec):
    def __init__(self, name: str, spec: dict) -> None:
        super().__init__(_LABEL, name, spec, Column.in_duckdb)
        self.positions = Positions(name, self.columns, self.key)
        self.source = f"{quote(_BATCH_VIEW)} WHERE NOT __vf_deleted"
        self.upsert = insert_sql(name, self.columns, self.key, self.source)
        self.delete = (f"DELETE FROM {quote(name)} t USING {quote(_BATCH_VIEW)} d WHERE d.__vf_deleted AND "
                       f"{self.positions.key_match('t', 'd')}")
        self.winners = self.positions.winners_sql(_BATCH_VIEW)
        self.record = self.positions.record_sql(_BATCH_VIEW)


class _TablesWriter(DuckDBWriter[List[Change]]):
    def __init__(self, sink: "DuckDBTablesSink") -> None:
        self._sink = sink
        self._con = _connect(sink.path)
        try:
            if sink.views:  # views are analysts' queries over these tables: no file, no extension
                self._con.execute("SET enable_external_access = false")
            # every table, side table and view in one transaction: a kill while they are created
            # leaves none of them, never some (a reader would miss tables the flow declares)
            self._con.execute("BEGIN TRANSACTION")
            for table in sink.tables.values():  # a file written before positions existed gets its side tables
                ensure_table(self._con, table.name, table.columns, table.key)
                ensure_table(self._con, table.positions.name, table.positions.columns, table.key)
            for name, query in sink.views.items():  # composite objects, always in step with the tables
                self._con.execute(view_sql(name, query))
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            self._con.close()
            raise ConnectorError(f"duckdb sink: cannot create a view: {str(exc).splitlines()[0]}") from None
        except BaseException:
            self._con.close()
            raise
        self._server = serve(sink.path, self._con)  # velocity-flow query, while the flow writes

    def write_batch(self, values: List[List[Change]]) -> None:
        changes = [c for batch in values for c in batch]
        if not changes:
            return
        rounds, unchanged = plan_batch(self._sink.tables, changes)
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for planned in rounds:
                for table, winners in planned.items():
                    self._apply(table, winners, unchanged)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            roll_back(con)
            raise ConnectorError(f"duckdb sink: writing a batch of {len(changes)} row changes failed "
                                 f"(nothing written): {str(exc).splitlines()[0]}") from None
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=len(changes), events_out=len(changes))

    def _apply(self, table: _Table, winners: Dict[tuple, Winner], unchanged: bool) -> None:
        """Keep the changes not older than the table's positions; apply them and store their positions.
        ``unchanged``: the batch holds placeholders, upserted in spans (engine/connectors/unchanged.py)."""
        con = self._con
        upserts = [table.upsert]
        if unchanged:
            winners, upserts = table.unchanged.upserts(winners, table.name, table.source, True, table.upsert)
        batch = batch_arrow(table.columns, table.positions.batch_extra, winners)
        con.register(_BATCH_VIEW, batch)
        try:
            indices = [i for (i,) in con.execute(table.winners).fetchall()]
            if not indices:
                return
            if len(indices) < batch.num_rows:
                con.unregister(_BATCH_VIEW)
                con.register(_BATCH_VIEW, batch.take(sorted(indices)))
            con.execute(table.delete)
            for upsert in upserts:
                con.execute(upsert)
            con.execute(table.record)
        finally:
            self._unregister_batch()


def view_sql(name: str, query: str) -> str:
    """``CREATE OR REPLACE VIEW name AS query``, refused unless it is one statement creating that view."""
    problem = view_problem(query)
    sql = f"CREATE OR REPLACE VIEW {quote(name)} AS {query}"
    if problem is None:
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            problem = f"the view's SQL does not parse: {str(exc).splitlines()[0]}"
        else:
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.CREATE:
                problem = "a view must be exactly one SELECT statement"
    if problem is not None:
        raise ConnectorError(f"duckdb sink: view '{name}': {problem}")
    return sql


class DuckDBTablesSink(SinglePartitionSink[List[Change], None]):
    """Row changes into the declared ``tables`` ({name: {key, columns}}) of one database."""

    def __init__(self, path: str, tables: Dict[str, dict], views: Optional[Dict[str, str]] = None,
                 metrics: Optional[StepCounters] = None) -> None:
        check_names(_LABEL, tables)
        self.path = path
        self.tables = {name: _Table(name, spec) for name, spec in tables.items()}
        self.views = dict(views or {})
        for name, query in self.views.items():
            view_sql(name, query)  # refused before any connection: one SELECT statement each
        self.metrics = metrics

    def encoder(self) -> Callable[[dict], Change]:
        """``row change -> Change``, checked against its table; run before the batch goes out."""
        return change_encoder(self.tables)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TablesWriter:
        return _TablesWriter(self)


def duckdb_sink(**options):
    """The ``duckdb`` sink declared in engine/catalog/sinks.py: one table, or row changes into
    several tables (``tables``) applied in one transaction per batch."""
    return DuckDBTablesSink(**options) if "tables" in options else DuckDBSink(**options)
