"""The simulated TMS database: rows per table, column indexes, and the open transaction that
applies changes at once and records them (the change events Debezium would capture)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from engine.simulation.schema import TABLE_NAMES, TABLES


@dataclass
class Change:
    table: str
    op: str
    before: Optional[Dict[str, Any]]
    after: Optional[Dict[str, Any]]


class Tx:
    """One open transaction: applies changes to the database at once, records them."""

    def __init__(self, db: "Database", at: datetime) -> None:
        self.db = db
        self.at = at
        self.changes: List[Change] = []
        # first before-image of every row touched (None: the row did not exist)
        self.initial: Dict[Tuple[str, tuple], Optional[Dict[str, Any]]] = {}
        self.first_touch: Dict[Tuple[str, tuple], int] = {}

    def _touch(self, table: str, key: tuple) -> None:
        ident = (table, key)
        if ident not in self.initial:
            current = self.db.rows[table].get(key)
            self.initial[ident] = None if current is None else dict(current)
            self.first_touch[ident] = len(self.changes)

    def insert(self, table: str, row: Dict[str, Any]) -> Dict[str, Any]:
        spec = TABLES[table]
        full = {c.name: row.get(c.name, c.default if c.default is not None else None)
                for c in spec.columns}
        if spec.name == "transport_order" and "attributes" not in row:
            full["attributes"] = {}
        missing = set(row) - set(full)
        if missing:
            raise KeyError(f"{table}: unknown columns {sorted(missing)}")
        key = spec.key_of(full)
        if key in self.db.rows[table]:
            raise KeyError(f"{table}: duplicate key {key}")
        self._touch(table, key)
        self.db.rows[table][key] = full
        self.db.reindex(table, key, None, full)
        self.changes.append(Change(table, "c", None, dict(full)))
        return full

    def update(self, table: str, key: tuple, **values: Any) -> Dict[str, Any]:
        """UPDATE one row; emitted even when nothing changes (a no-op update)."""
        spec = TABLES[table]
        current = self.db.rows[table][key]
        unknown = set(values) - set(spec.column_names)
        if unknown:
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        self._touch(table, key)
        before = dict(current)
        current.update(values)
        self.db.reindex(table, key, before, current)
        self.changes.append(Change(table, "u", before, dict(current)))
        return current

    def delete(self, table: str, key: tuple) -> None:
        self._touch(table, key)
        before = self.db.rows[table].pop(key)
        self.db.reindex(table, key, before, None)
        self.changes.append(Change(table, "d", before, None))

    def row(self, table: str, key: tuple) -> Dict[str, Any]:
        return self.db.rows[table][key]


class Database:
    def __init__(self) -> None:
        self.rows: Dict[str, Dict[tuple, Dict[str, Any]]] = {t: {} for t in TABLE_NAMES}

        # (table, column) -> value -> keys of the rows holding it; built on a column's first select
        self._indexes: Dict[Tuple[str, str], Dict[Any, set]] = {}

    def select(self, table: str, **where: Any) -> List[Dict[str, Any]]:
        """Rows matching ``where``, in primary-key order (deterministic)."""
        (column, value), *rest = where.items()
        rows = self.rows[table]
        matches = [(k, rows[k]) for k in self._index(table, column).get(value, ())
                   if all(rows[k][c] == v for c, v in rest)]
        return [r for _, r in sorted(matches, key=lambda kv: sort_key(kv[0]))]

    def _index(self, table: str, column: str) -> Dict[Any, set]:
        index = self._indexes.get((table, column))
        if index is None:
            index = self._indexes[(table, column)] = {}
            for key, row in self.rows[table].items():
                index.setdefault(row[column], set()).add(key)
        return index

    def reindex(self, table: str, key: tuple, before: Optional[dict], after: Optional[dict]) -> None:
        """Keep the column indexes of ``table`` right after a row changed from ``before`` to ``after``."""
        for (indexed, column), index in self._indexes.items():
            if indexed != table:
                continue
            if before is not None:
                index[before[column]].discard(key)
            if after is not None:
                index.setdefault(after[column], set()).add(key)


def sort_key(key: tuple) -> tuple:
    return tuple(str(k) if not isinstance(k, int) else f"{k:020d}" for k in key)

