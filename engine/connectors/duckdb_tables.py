"""Row changes into several DuckDB tables at once, one ACID transaction per written batch.

Each event is a row change: ``table`` (which declared table), ``op`` (``d`` deletes, anything
else inserts or updates), ``after`` (the row to write) and ``before`` (the row to delete).
Within a batch the last change of each (table, key) wins; then, in one transaction, every
table gets its deletes and its upserts. A failure rolls the whole batch back: the tables never
show half of a batch (the seed's MicroBatch writing step). Upserts and deletes by key are
idempotent, so a batch replayed after recovery leaves the same state: effectively once.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import duckdb
import pyarrow as pa
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from engine.connectors.duckdb import _BATCH_VIEW, Column, _connect, ensure_table, insert_sql, quote
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import encode_value
from engine.metrics import StepCounters


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

    def ident(self, row: dict):
        values = tuple(row.get(k) for k in self.key)
        try:
            hash(values)
            return values
        except TypeError:
            return encode_value(list(values))


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

    def write_batch(self, values: List[List[dict]]) -> None:
        events = [e for batch in values for e in batch]
        if not events:
            return
        plan = self._plan(events)
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, (upserts, deletes) in plan.items():
                self._apply(table, table.key_columns, deletes, table.delete)
                self._apply(table, table.columns, upserts, table.upsert)
            con.execute("COMMIT")
        except (duckdb.Error, ValueError) as exc:
            con.execute("ROLLBACK")
            raise ConnectorError(f"duckdb sink: writing a batch of {len(events)} row changes failed "
                                 f"(nothing written): {str(exc).splitlines()[0]}") from None
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=len(events), events_out=len(events))

    def _plan(self, events: List[dict]) -> Dict[_Table, Tuple[List[dict], List[dict]]]:
        """Per table: rows to upsert and keys to delete, the last change of each key winning."""
        latest: Dict[_Table, Dict[object, Tuple[str, dict]]] = {}
        for event in events:
            table = self._sink.tables.get(event.get("table"))
            if table is None:
                raise ConnectorError(f"duckdb sink: a change for table '{event.get('table')}', which is not "
                                     f"among the declared tables ({', '.join(self._sink.tables)})")
            deleting = event.get("op") == "d"
            row = event.get("before") if deleting else event.get("after")
            if not isinstance(row, dict):
                raise ConnectorError(f"duckdb sink: a change of '{table.name}' has no "
                                     f"{'before' if deleting else 'after'} row")
            rows = latest.setdefault(table, {})
            ident = table.ident(row)
            rows.pop(ident, None)
            rows[ident] = ("d" if deleting else "u", row)
        return {table: ([r for op, r in rows.values() if op == "u"], [r for op, r in rows.values() if op == "d"])
                for table, rows in latest.items()}

    def _apply(self, table: _Table, columns: List[Column], rows: List[dict], sql: str) -> None:
        if not rows:
            return
        arrow = pa.Table.from_arrays([c.array(rows) for c in columns], names=[c.name for c in columns])
        self._con.register(_BATCH_VIEW, arrow)
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

    def list_parts(self) -> List[str]:
        return [self.path]

    def part_fn(self, item_key: str) -> int:
        return 0

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _TablesWriter:
        return _TablesWriter(self)
