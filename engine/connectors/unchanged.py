"""Unchanged TOAST values in the table sinks' upserts: the stored value is kept.

Debezium sends a placeholder for a large value an update left unchanged (engine/unavailable.py).
It is not the column's value, so an upsert must not write it: as Debezium's blog recommends
("Strategies for Handling Unchanged Postgres TOAST Values", 2019), a column whose value in a row
is the placeholder is left out of that row's update, and the table keeps the value it holds.
A row that is inserted (no stored row for its key) gets NULL there: the value is unknown.

Only ``str`` and ``json`` columns outside the key can carry it (the placeholder's text, or a
`json` column's text of the placeholder or of its arrays, ``UNAVAILABLE_JSON``); the key of a
Debezium row is always sent whole. Finding one costs one pass in C per such column of a batch
(``in`` over the column's values: a comparison of two texts stops at their lengths unless they
are equal), so a batch without placeholders, the usual one, is written as before. A batch with
some is written in parts, one per set of columns its rows keep (the placeholders made NULL), each
part one upsert whose update leaves those columns out.

Several changes of one key in a batch: the one-table form's later row takes, for each of its
placeholders, the earlier row's value (``merge``: the rows applied one after the other); the
``tables`` form, whose changes apply by source position, writes a placeholder change whose key
changed earlier in the batch in a round after it (table_specs.plan_batch).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from engine.connectors.duckdb_columns import Column
from engine.connectors.duckdb_positions import Winner
from engine.connectors.table_sql import insert_sql, last_per_key
from engine.unavailable import UNAVAILABLE, UNAVAILABLE_JSON

# the SQL types of `str` and `json` columns, DuckDB's and PostgreSQL's (duckdb_columns, postgres_columns)
_PLACEHOLDERS = {"VARCHAR": (UNAVAILABLE,), "text": (UNAVAILABLE,), "JSON": UNAVAILABLE_JSON, "jsonb": UNAVAILABLE_JSON}
NONE: FrozenSet[str] = frozenset()
NO_INDEX: FrozenSet[int] = frozenset()
Part = Tuple[FrozenSet[str], List[tuple]]  # (the columns its rows keep, the rows)
_ROW = itemgetter(1)  # a Winner's row


class Unchanged:
    """The columns of one table that may carry a placeholder, and the rows that do."""

    __slots__ = ("_candidates", "_columns", "_key")

    def __init__(self, columns: List[Column], key: Optional[List[str]]) -> None:
        keys = {k.lower() for k in key or ()}
        self._candidates = [(i, itemgetter(i), _PLACEHOLDERS[c.sql_type]) for i, c in enumerate(columns)
                            if c.sql_type in _PLACEHOLDERS and c.name.lower() not in keys]
        self._columns, self._key = columns, key

    def found(self, rows: List[tuple]) -> bool:
        """Whether a row holds a placeholder: one pass in C per column that may and text it may hold,
        comparing (``==`` looks at the lengths first), not hashing (which reads a long text whole)."""
        for _, column, texts in self._candidates:
            values: Iterable[str] = map(column, rows) if len(texts) == 1 else list(map(column, rows))
            for text in texts:
                if text in values:
                    return True
        return False

    def in_winners(self, winners: Dict[tuple, Winner]) -> bool:
        return bool(self._candidates) and self.found(list(map(_ROW, winners.values())))

    def kept(self, row: tuple) -> FrozenSet[int]:
        """The positions of the row's placeholders."""
        return frozenset([i for i, _, texts in self._candidates if row[i] in texts])

    def merge(self, earlier: tuple, later: tuple) -> tuple:
        """``later`` written after ``earlier`` (one key): its placeholders take the earlier values."""
        kept = self.kept(later)
        return tuple([earlier[i] if i in kept else value for i, value in enumerate(later)]) if kept else later

    def _groups(self, rows: List[tuple]) -> Dict[FrozenSet[int], List[int]]:
        groups: Dict[FrozenSet[int], List[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(self.kept(row), []).append(index)
        return groups

    def _named(self, kept: FrozenSet[int]) -> FrozenSet[str]:
        return frozenset([self._columns[i].name for i in kept])

    def parts(self, rows: List[tuple]) -> List[Part]:
        """The rows by the columns they keep, their placeholders made NULL (what an insert stores)."""
        return [(self._named(kept), [_cleared(rows[i], kept) for i in indices])
                for kept, indices in self._groups(rows).items()]

    def upserts(self, winners: Dict[tuple, Winner], table: str, source: str, cast: bool,
                upsert: str) -> Tuple[Dict[tuple, Winner], List[str]]:
        """``parts`` of a ``tables`` batch: its winners reordered so that each part is a span of
        the batch's ``__vf_index``, and each span's upsert from ``source`` (a relation and a
        ``WHERE``); ``upsert``, the table's own, when no row holds a placeholder."""
        items = list(winners.items())
        groups = self._groups([winner[1] for _, winner in items])
        if list(groups) == [NO_INDEX]:
            return winners, [upsert]
        arranged: Dict[tuple, Winner] = {}
        upserts = []
        for kept, indices in groups.items():
            first = len(arranged)
            for i in indices:
                key, (deleting, row, position, force) = items[i]
                arranged[key] = (deleting, _cleared(row, kept), position, force)
            span = f"{source} AND __vf_index BETWEEN {first} AND {len(arranged) - 1}"
            upserts.append(insert_sql(table, self._columns, self._key, span, cast, self._named(kept)))
        return arranged, upserts


def _cleared(row: tuple, kept: FrozenSet[int]) -> tuple:
    return tuple([None if i in kept else value for i, value in enumerate(row)]) if kept else row


def parts_to_write(values: List[List[tuple]], key_positions: List[int], unchanged: Unchanged) -> Tuple[List[Part], int]:
    """The rows of a one-table sink's ``write_batch`` (a list of encoded batches) in parts, and
    how many events they came from: with a key, the last row per key (``last_per_key``), merged
    with the earlier ones when it holds placeholders; without, every row. One part keeping no
    column unless a row holds a placeholder."""
    rows = [r for batch in values for r in batch]
    count = len(rows)
    if not key_positions or not rows:
        return ([(NONE, rows)] if rows else []), count
    if not unchanged.found(rows):
        return [(NONE, last_per_key(rows, key_positions))], count
    return unchanged.parts(last_per_key(rows, key_positions, unchanged.merge)), count
