"""Row changes into several DuckDB tables at once, one ACID transaction per written batch.

Each event is a row change: ``table`` (which declared table), ``op`` (``d`` deletes, anything
else inserts or updates), ``after`` (the row to write), ``before`` (the row to delete) and its
source position ``lsn`` and ``seq`` (``duckdb_positions``; without an ``lsn``, the domain
event's ``position`` that ``unnest`` kept). A write to a row applies unless its
position is older than the one the table holds for that row; a delete leaves a tombstone
with its position, so an older upsert delivered later (another chunk, another batch, a
replay) cannot bring the row back. An update whose ``before`` has another key than its
``after`` (a primary-key change) deletes the old key and upserts the new one, both at the
update's position. Within a batch the changes of each (table, key) are folded by the same
rule; then, in one transaction, every table gets its deletes, its upserts and its positions.
A failure rolls the whole batch back: the tables never show half of a batch (the seed's
MicroBatch writing step). Applying a change twice changes nothing, so a batch replayed after
recovery leaves the same state: effectively once.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import duckdb
from bytewax.outputs import StatefulSinkPartition

from engine.connectors.duckdb import _BATCH_VIEW, DuckDBSink, _connect, ensure_table, insert_sql, quote
from engine.connectors.duckdb_columns import Column, row_encoder
from engine.connectors.duckdb_positions import PREFIX, Position, Positions, Winner, batch_arrow, fold, read_position
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import Unwritable
from engine.connectors.wiring import SinglePartitionSink
from engine.errors import ConfigError
from engine.metrics import StepCounters

# One encoded row change: (table name, deleting, key values, row: all columns (a delete's
# non-key ones None), source position or None, the old key when an update changed the key)
Change = Tuple[str, bool, tuple, tuple, Optional[Position], Optional[tuple]]


class _Table:
    def __init__(self, name: str, spec: dict) -> None:
        if not spec.get("key"):
            raise ConnectorError(f"duckdb sink: table '{name}' needs 'key'")
        if not spec.get("columns"):
            raise ConnectorError(f"duckdb sink: table '{name}' needs 'columns'")
        self.name = name
        self.key: List[str] = list(spec["key"])
        self.columns = [Column.of(n, k) for n, k in spec["columns"].items()]
        self.key_columns = [c for c in self.columns if c.name in self.key]
        self.positions = Positions(name, self.columns, self.key)
        clash = [c.name for c in self.columns if c.name.lower() in {e.name for e in self.positions.batch_extra}]
        if clash:
            raise ConnectorError(f"duckdb sink: table '{name}': column name '{clash[0]}' is reserved")
        applied = f"(SELECT * FROM {quote(_BATCH_VIEW)} WHERE NOT __vf_deleted)"
        self.upsert = insert_sql(name, self.columns, self.key, applied)
        match = " AND ".join(f"t.{quote(c.name)} = CAST(d.{quote(c.name)} AS {c.sql_type})" for c in self.key_columns)
        self.delete = f"DELETE FROM {quote(name)} t USING {quote(_BATCH_VIEW)} d WHERE d.__vf_deleted AND {match}"
        self.winners = self.positions.winners_sql(_BATCH_VIEW)
        self.record = self.positions.record_sql(_BATCH_VIEW)
        self.row = row_encoder(self.columns, name, self.key)
        self.key_row = row_encoder(self.key_columns, name, self.key)
        names = [c.name for c in self.columns]
        self.key_positions = [names.index(c.name) for c in self.key_columns]

    def padded(self, key: tuple) -> tuple:
        """A delete's row: the key's values in their columns, None elsewhere."""
        row: list = [None] * len(self.columns)
        for i, value in zip(self.key_positions, key, strict=False):
            row[i] = value
        return tuple(row)


class _TablesWriter(StatefulSinkPartition[List[Change], None]):
    def __init__(self, sink: "DuckDBTablesSink") -> None:
        self._sink = sink
        self._con = _connect(sink.path)
        try:
            for table in sink.tables.values():  # a file written before positions existed gets its side tables
                ensure_table(self._con, table.name, table.columns, table.key)
                ensure_table(self._con, table.positions.name, table.positions.columns, table.key)
            if sink.views:  # views are analysts' queries over these tables: no file, no extension
                self._con.execute("SET enable_external_access = false")
            for name, query in sink.views.items():  # composite objects, always in step with the tables
                self._con.execute(view_sql(name, query))
        except duckdb.Error as exc:
            self._con.close()
            raise ConnectorError(f"duckdb sink: cannot create a view: {str(exc).splitlines()[0]}") from None
        except BaseException:
            self._con.close()
            raise

    def write_batch(self, values: List[List[Change]]) -> None:
        changes = [c for batch in values for c in batch]
        if not changes:
            return
        plan = self._plan(changes)
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, winners in plan.items():
                self._apply(table, winners)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise ConnectorError(f"duckdb sink: writing a batch of {len(changes)} row changes failed "
                                 f"(nothing written): {str(exc).splitlines()[0]}") from None
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=len(changes), events_out=len(changes))

    def _plan(self, changes: List[Change]) -> Dict[_Table, Dict[tuple, Winner]]:
        """Per table, the change that stands for each key: the changes folded in arrival order
        under the positions rule (a key change is its old key's delete, then the new key's upsert)."""
        tables = self._sink.tables
        plan: Dict[_Table, Dict[tuple, Winner]] = {}
        for name, deleting, ident, row, position, old in changes:
            table = tables[name]
            winners = plan.setdefault(table, {})
            if old is not None:
                fold(winners, True, old, table.padded(old), position)
            fold(winners, deleting, ident, row, position)
        return plan

    def _apply(self, table: _Table, winners: Dict[tuple, Winner]) -> None:
        """Keep the changes not older than the table's positions; apply them and store their positions."""
        con = self._con
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
            con.execute(table.upsert)
            con.execute(table.record)
        finally:
            try:
                con.unregister(_BATCH_VIEW)
            except duckdb.Error:  # the transaction already failed: keep the first error
                pass

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._con.close()


def view_problem(query: object) -> Optional[str]:
    """Why ``query`` cannot be a view (None when it can): a view is exactly one ``SELECT``
    (or ``WITH ... SELECT``, ``VALUES``, ``FROM ...``) statement. Checked by DuckDB's parser,
    without a database; what the query reads is checked when the view is created, with
    external access disabled (no file, URL or extension)."""
    if not isinstance(query, str) or not query.strip():
        return "a view must be a SELECT query"
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        return f"the view's SQL does not parse: {str(exc).splitlines()[0]}"
    if len(statements) != 1:
        return f"a view must be exactly one SELECT statement, not {len(statements)} statements"
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        return f"a view must be a SELECT query, not a {kind.name} statement"
    return None


def check_views(options) -> None:
    """The ``duckdb`` sink's declared check: every view is one SELECT (DuckDB's parser says)."""
    for view, query in (options.get("views") or {}).items():
        problem = view_problem(query)
        if problem:
            raise ConfigError(problem, ("views", view),
                              hint="views are queries over the sink's tables: one SELECT (or WITH ... SELECT); "
                                   "they cannot read files, write or change settings")


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
        if not tables:
            raise ConnectorError("duckdb sink: 'tables' is empty")
        self.path = path
        self.tables = {name: _Table(name, spec) for name, spec in tables.items()}
        lowered = {name.lower() for name in tables}
        hidden = [name for name in tables if name.lower().startswith(PREFIX) and name.lower()[len(PREFIX):] in lowered]
        if hidden:
            raise ConnectorError(f"duckdb sink: table '{hidden[0]}' is the positions table of "
                                 f"'{hidden[0][len(PREFIX):]}'; name it otherwise")
        self.views = dict(views or {})
        for name, query in self.views.items():
            view_sql(name, query)  # refused before any connection: one SELECT statement each
        self.metrics = metrics

    def encoder(self) -> Callable[[dict], Change]:
        """``row change -> Change``, checked against its table; run before the batch goes out."""
        tables = self.tables

        def encode(event: dict) -> Change:
            if type(event) is not dict:
                raise Unwritable("a row change must be an object")
            name = event.get("table")
            table = tables.get(name) if type(name) is str else None
            if table is None:
                raise Unwritable(f"a change for table {event.get('table')!r}, which is not among the "
                                 f"declared tables ({', '.join(tables)})")
            deleting = event.get("op") == "d"
            row = event.get("before") if deleting else event.get("after")
            if type(row) is not dict:
                raise Unwritable(f"a change of '{table.name}' has no {'before' if deleting else 'after'} row")
            lsn = event.get("lsn")  # else the domain event's own (unnest keeps it as 'position')
            position = read_position(lsn if lsn is not None else event.get("position"), event.get("seq"))
            if deleting:
                ident = table.key_row(row)
                return table.name, True, ident, table.padded(ident), position, None
            encoded = table.row(row)
            ident = tuple([encoded[i] for i in table.key_positions])
            before = event.get("before")
            old = None
            if type(before) is dict and all(before.get(k) is not None for k in table.key):
                old = table.key_row(before)  # the row's key before the change
                if old == ident:
                    old = None
            return table.name, False, ident, encoded, position, old

        return encode

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TablesWriter:
        return _TablesWriter(self)


def duckdb_sink(**options):
    """The ``duckdb`` sink declared in engine/catalog/sinks.py: one table, or row changes into
    several tables (``tables``) applied in one transaction per batch."""
    return DuckDBTablesSink(**options) if "tables" in options else DuckDBSink(**options)
