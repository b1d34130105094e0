"""Source positions of row changes, and the rule that orders Fast Storage writes by them.

A row change's position is ``(lsn, seq)``: the change's ``lsn`` (its place in the source's
log; PostgreSQL's LSN) and ``seq`` (its index inside its transaction). A write to a row
applies unless its position is older than the one the table holds for that row, and a
delete keeps its position (a tombstone), so an older upsert arriving later cannot bring the
row back. Per row the positions follow commit order (a row is locked by the transaction that
changes it until that transaction commits), so the rule gives the source's final state
whatever the batching, the chunking or the order of delivery, and replays change nothing.

The positions live in a side table per modelled table, ``_positions_<table>``: the row's key
columns, ``_lsn`` (HUGEINT), ``_seq`` (BIGINT) and ``_deleted`` (true: a tombstone). The
modelled table keeps exactly its declared columns, so users' views and queries see no trace.

Reading a position (``read_position``):

- ``lsn``: an integer, decimal digits as text (``"2345"``), or PostgreSQL's text form
  ``"16/B374D848"`` (hex, high/low 32 bits). ``seq``: an integer or decimal digits as text.
- no ``lsn`` (missing or null): the change has no position and applies in arrival order, as
  the sink did before positions existed; the row's stored position becomes unknown (NULL), so
  the next positioned change of that row applies whatever its position.
- an ``lsn`` or ``seq`` that cannot be read (a boolean, a fraction, other text, beyond
  HUGEINT/BIGINT): the same as no position (arrival order); never an error.
- ``seq`` missing or null with a readable ``lsn``: ``(lsn, None)``; at another ``lsn`` the ``lsn``
  decides, at an equal one the order is unknown and the change applies (arrival order).
- equal positions: the later arrival applies. For one row that is a replay of the same change
  (writing it again changes nothing), or input whose positions do not tell the changes apart.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from engine.connectors.duckdb_columns import Column
from engine.connectors.errors import ReservedName
from engine.connectors.table_sql import quote

if TYPE_CHECKING:
    import pyarrow as pa

Position = Tuple[int, Optional[int]]

LSN, SEQ, DELETED = "_lsn", "_seq", "_deleted"  # the side table's position columns
PREFIX = "_positions_"
# The batch of a table travels with its columns and these (a table's own columns may not use them).
BATCH_EXTRA = ("__vf_lsn", "__vf_seq", "__vf_deleted", "__vf_force", "__vf_index")
_HUGEINT = (-(2 ** 127) + 1, 2 ** 127 - 1)
_BIGINT = (-(2 ** 63), 2 ** 63 - 1)
_DIGITS = re.compile(r"^[+-]?\d{1,40}$")
_PG_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def side_table(table: str) -> str:
    return PREFIX + table


def _integer(value: Any, bounds: Tuple[int, int], pg_text: bool = False) -> Optional[int]:
    """The integer a position field holds, or None when it holds none that can be compared."""
    kind = type(value)
    number: Optional[int] = None
    if kind is int:
        number = value
    elif kind is str:
        text = value.strip()
        if _DIGITS.match(text):
            number = int(text)
        elif pg_text and _PG_LSN.match(text):
            high, low = text.split("/")
            number = (int(high, 16) << 32) | int(low, 16)
    elif kind is Decimal and value.is_finite() and value == value.to_integral_value():
        number = int(value)
    if number is None or not bounds[0] <= number <= bounds[1]:
        return None
    return number


def read_position(lsn: Any, seq: Any) -> Optional[Position]:
    """``(lsn, seq)`` of a change, or None: no position, or one that cannot be read."""
    if lsn is None:
        return None
    number = _integer(lsn, _HUGEINT, pg_text=True)
    if number is None:
        return None
    if seq is None:
        return number, None
    index = _integer(seq, _BIGINT)
    if index is None:
        return None
    return number, index


def older(position: Position, than: Position) -> bool:
    """True when ``position`` comes before ``than``: a change there must not overwrite a change
    at ``than`` (the same rule as ``Positions.winners_sql``)."""
    if position[0] != than[0]:
        return position[0] < than[0]
    return position[1] is not None and than[1] is not None and position[1] < than[1]


# One change ready to plan: (deleting, key, row, position); row holds every column (a delete's
# non-key columns are None).
Entry = Tuple[bool, tuple, tuple, Optional[Position]]
# The change that stands for a key in a batch: (deleting, row, position, force); force = it
# must apply whatever the table holds (an unpositioned change came before it in the batch).
Winner = Tuple[bool, tuple, Optional[Position], bool]


def fold(winners: Dict[tuple, Winner], deleting: bool, key: tuple, row: tuple,
         position: Optional[Position]) -> None:
    """Add one change, in arrival order, to the batch's change per key: what applying the
    changes one by one under the positions rule would leave."""
    current = winners.get(key)
    if position is None or current is None:
        winners[key] = (deleting, row, position, position is None)
    elif current[2] is None:  # an unpositioned change reset the row's position: this one applies
        winners[key] = (deleting, row, position, True)
    elif not older(position, current[2]):
        winners[key] = (deleting, row, position, current[3])


class Positions:
    """The side table of one modelled table: its columns and the SQL that uses it. The SQL
    types of ``_lsn``, ``_seq`` and ``_deleted`` are the database's (DuckDB's by default)."""

    def __init__(self, table: str, columns: List[Column], key: List[str], label: str = "duckdb sink",
                 types: Tuple[str, str, str] = ("HUGEINT", "BIGINT", "BOOLEAN")) -> None:
        self.name = side_table(table)
        self.key = key
        self.key_columns = [c for c in columns if c.name in key]
        taken = {c.name.lower() for c in self.key_columns}
        for name in (LSN, SEQ, DELETED):
            if name in taken:
                raise ReservedName(f"{label}: table '{table}': a key column may not be called '{name}' "
                                     f"(the positions table '{self.name}' uses it)")
        lsn, seq, flag = types
        self.lsn_type = lsn
        self.columns = self.key_columns + [
            Column(LSN, lsn, "string", str), Column(SEQ, seq, "int64", int),
            Column(DELETED, flag, "bool_", bool)]
        # The batch travels with the table's columns and these (their names cannot clash: the
        # table's own columns are checked against BATCH_EXTRA).
        self.batch_extra = [Column(n, t, a, f) for n, t, a, f in zip(
            BATCH_EXTRA, (lsn, seq, flag, flag, seq), ("string", "int64", "bool_", "bool_", "int64"),
            (str, int, bool, bool, int), strict=True)]

    def key_match(self, left: str, right: str) -> str:
        """``left.k = right.k AND ...`` over the key columns (``right``'s cast to the column type)."""
        return " AND ".join(f"{left}.{quote(c.name)} = CAST({right}.{quote(c.name)} AS {c.sql_type})"
                            for c in self.key_columns)

    def applies_sql(self, batch: str = "b", stored: str = "p") -> str:
        """The condition under which a batch row applies: forced, or not older than the stored
        position (none stored, or stored as unknown, counts as older)."""
        b, p = batch, stored
        lsn = f"CAST({b}.__vf_lsn AS {self.lsn_type})"
        return (f"{b}.__vf_force OR {b}.__vf_lsn IS NULL OR {p}.{LSN} IS NULL OR {lsn} > {p}.{LSN} "
                f"OR ({lsn} = {p}.{LSN} AND ({b}.__vf_seq IS NULL OR {p}.{SEQ} IS NULL OR {b}.__vf_seq >= {p}.{SEQ}))")

    def winners_sql(self, batch_view: str) -> str:
        """The ``__vf_index`` of each batch row that applies."""
        return (f"SELECT b.__vf_index FROM {quote(batch_view)} b LEFT JOIN {quote(self.name)} p "
                f"ON {self.key_match('p', 'b')} WHERE {self.applies_sql()}")

    def record_sql(self, batch_view: str) -> str:
        """Store each applied change's position (NULL for an unpositioned one) and whether it deleted."""
        names = ", ".join(quote(c.name) for c in self.columns)
        select = ", ".join([f"CAST({quote(c.name)} AS {c.sql_type})" for c in self.key_columns]
                           + [f"CAST(__vf_lsn AS {self.lsn_type})", "__vf_seq", "__vf_deleted"])
        keys = ", ".join(quote(c.name) for c in self.key_columns)
        return (f"INSERT INTO {quote(self.name)} ({names}) SELECT {select} FROM {quote(batch_view)} "
                f"ON CONFLICT ({keys}) DO UPDATE SET {LSN} = EXCLUDED.{LSN}, {SEQ} = EXCLUDED.{SEQ}, "
                f"{DELETED} = EXCLUDED.{DELETED}")


def batch_rows(winners: Dict[tuple, Winner]) -> List[tuple]:
    """The batch of one table as rows: every column of each key's change, then its position
    (lsn as text, seq), whether it deletes, whether it is forced, and its index."""
    return [(*row, None if position is None else str(position[0]), None if position is None else position[1],
             deleting, force, index)
            for index, (deleting, row, position, force) in enumerate(winners.values())]


def batch_arrow(columns: List[Column], extra: List[Column], winners: Dict[tuple, Winner]) -> "pa.Table":
    """The batch of one table: every column of each key's change, then its position and flags."""
    names = [c.name for c in columns] + [c.name for c in extra]
    values: List[list] = [[] for _ in names]
    width = len(columns)
    for index, (deleting, row, position, force) in enumerate(winners.values()):
        for i in range(width):
            values[i].append(row[i])
        values[width].append(None if position is None else str(position[0]))
        values[width + 1].append(None if position is None else position[1])
        values[width + 2].append(deleting)
        values[width + 3].append(force)
        values[width + 4].append(index)
    import pyarrow as pa  # only to write: validate builds Positions without it

    return pa.Table.from_arrays([c.array(v) for c, v in zip(columns + extra, values, strict=False)], names=names)
