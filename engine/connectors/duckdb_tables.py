"""Row changes into several DuckDB tables at once, one ACID transaction per written batch.

Each event is a row change: ``table`` (which declared table), ``op`` (``d`` deletes, anything
else inserts or updates), ``after`` (the row to write) and ``before`` (the row to delete).
Within a batch the last change of each (table, key) wins; then, in one transaction, every
table gets its deletes and its upserts. A failure rolls the whole batch back: the tables never
show half of a batch (the seed's MicroBatch writing step). Upserts and deletes by key are
idempotent, so a batch replayed after recovery leaves the same state: effectively once.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import duckdb
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from engine.connectors.duckdb import _BATCH_VIEW, _connect, ensure_table, insert_sql, quote
from engine.connectors.duckdb_columns import Column, arrow_table, row_encoder
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import Unwritable
from engine.metrics import StepCounters

# One encoded row change: (table name, deleting, key values, row: all columns, or the key's)
Change = Tuple[str, bool, tuple, tuple]


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
        self.upsert = insert_sql(name, self.columns, self.key)
        match = " AND ".join(f"t.{quote(k)} = d.{quote(k)}" for k in self.key)
        self.delete = f"DELETE FROM {quote(name)} t USING {quote(_BATCH_VIEW)} d WHERE {match}"
        self.row = row_encoder(self.columns, name, self.key)
        self.key_row = row_encoder(self.key_columns, name, self.key)
        names = [c.name for c in self.columns]
        self.key_positions = [names.index(c.name) for c in self.key_columns]


class _TablesWriter(StatefulSinkPartition[List[dict], None]):
    def __init__(self, sink: "DuckDBTablesSink") -> None:
        self._sink = sink
        self._con = _connect(sink.path)
        try:
            for table in sink.tables.values():
                ensure_table(self._con, table.name, table.columns, table.key)
            for name, query in sink.views.items():  # composite objects, always in step with the tables
                self._con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS {query}")
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
            for table, (upserts, deletes) in plan.items():
                self._apply(table.key_columns, deletes, table.delete)
                self._apply(table.columns, upserts, table.upsert)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise ConnectorError(f"duckdb sink: writing a batch of {len(changes)} row changes failed "
                                 f"(nothing written): {str(exc).splitlines()[0]}") from None
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=len(changes), events_out=len(changes))

    def _plan(self, changes: List[Change]) -> Dict[_Table, Tuple[List[tuple], List[tuple]]]:
        """Per table: rows to upsert and keys to delete, the last change of each key winning."""
        latest: Dict[str, Dict[tuple, Tuple[bool, tuple]]] = {}
        for name, deleting, ident, row in changes:
            rows = latest.setdefault(name, {})
            rows.pop(ident, None)
            rows[ident] = (deleting, row)
        tables = self._sink.tables
        return {tables[name]: ([r for d, r in rows.values() if not d], [r for d, r in rows.values() if d])
                for name, rows in latest.items()}

    def _apply(self, columns: List[Column], rows: List[tuple], sql: str) -> None:
        if not rows:
            return
        self._con.register(_BATCH_VIEW, arrow_table(columns, rows))
        try:
            self._con.execute(sql)
        finally:
            try:
                self._con.unregister(_BATCH_VIEW)
            except duckdb.Error:  # the transaction already failed: keep the first error
                pass

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._con.close()


class DuckDBTablesSink(FixedPartitionedSink[List[dict], None]):
    """Row changes into the declared ``tables`` ({name: {key, columns}}) of one database."""

    def __init__(self, path: str, tables: Dict[str, dict], views: Optional[Dict[str, str]] = None,
                 metrics: Optional[StepCounters] = None) -> None:
        if not tables:
            raise ConnectorError("duckdb sink: 'tables' is empty")
        self.path = path
        self.tables = {name: _Table(name, spec) for name, spec in tables.items()}
        self.views = dict(views or {})
        self.metrics = metrics

    def encoder(self) -> Callable[[dict], Change]:
        """``row change -> Change``, checked against its table; run before the batch goes out."""
        tables = self.tables

        def encode(event: dict) -> Change:
            if type(event) is not dict:
                raise Unwritable("a row change must be an object")
            table = tables.get(event.get("table")) if type(event.get("table")) is str else None
            if table is None:
                raise Unwritable(f"a change for table {event.get('table')!r}, which is not among the "
                                 f"declared tables ({', '.join(tables)})")
            deleting = event.get("op") == "d"
            row = event.get("before") if deleting else event.get("after")
            if type(row) is not dict:
                raise Unwritable(f"a change of '{table.name}' has no {'before' if deleting else 'after'} row")
            if deleting:
                encoded = table.key_row(row)
                return table.name, True, encoded, encoded
            encoded = table.row(row)
            return table.name, False, tuple([encoded[i] for i in table.key_positions]), encoded

        return encode

    def list_parts(self) -> List[str]:
        return [self.path]

    def part_fn(self, item_key: str) -> int:
        return 0

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TablesWriter:
        return _TablesWriter(self)
