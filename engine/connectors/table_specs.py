"""The declared tables of a table sink (DuckDB or PostgreSQL) and the events they take.

One table (``table``, ``columns``, ``mode``, ``key``): events become checked rows. Several
tables (``tables``): each event is a row change, ``table`` (which declared table), ``op``
(``d`` deletes, anything else inserts or updates), ``after`` (the row to write), ``before``
(the row to delete) and its source position ``lsn`` and ``seq`` (``duckdb_positions``;
without an ``lsn``, the domain event's ``position`` that ``unnest`` kept). An update whose
``before`` has another key than its ``after`` (a primary-key change) deletes the old key and
upserts the new one, both at the update's position. Within a batch the changes of each
(table, key) are folded by the positions rule (``plan``; in rounds when a change holds a
placeholder of an unchanged value, ``plan_batch``); each sink then applies the plan in one
transaction. What the sinks share is here; how a batch reaches each database is not.
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable, Dict, List, Mapping, Optional, Tuple, TypeVar

from engine.connectors.duckdb_columns import Column
from engine.connectors.duckdb_positions import BATCH_EXTRA, PREFIX, Position, Winner, fold, read_position
from engine.connectors.errors import ConnectorError, ReservedName, Unwritable
from engine.connectors.row_encoding import row_encoder
from engine.connectors.unchanged import Unchanged
from engine.errors import ConfigError
from engine.table_rules import JSON_KEY_HINT, json_key, json_key_message

ColumnOf = Callable[[str, str], Column]  # (name, YAML type) -> the database's column
# One encoded row change: (table name, deleting, key values, row: all columns (a delete's
# non-key columns None), source position or None, the old key when an update changed the key)
Change = Tuple[str, bool, tuple, tuple, Optional[Position], Optional[tuple]]


def single_table(label: str, table: str, columns: Optional[Dict[str, str]], mode: str,
                 key: Optional[List[str]], column_of: ColumnOf) -> Tuple[List[Column], Optional[List[str]]]:
    """The columns of a one-table sink and its key (None unless ``upsert``), or the reason why not."""
    if mode not in ("append", "upsert"):
        raise ConnectorError(f"{label}: mode must be 'append' or 'upsert', not '{mode}'")
    if not columns:
        raise ConnectorError(f"{label}: table '{table}' needs columns")
    if mode == "upsert" and not key:
        raise ConnectorError(f"{label}: mode 'upsert' needs 'key'")
    missing = [k for k in key or [] if k not in columns]
    if missing:
        raise ConnectorError(f"{label}: key column '{missing[0]}' is not among the columns")
    built = [column_of(name, kind) for name, kind in columns.items()]
    if mode == "upsert":
        _no_json_key(label, table, columns, key or [])
    return built, list(key) if mode == "upsert" and key else None


class JsonKey(ConnectorError):
    """A key column of type json (engine/table_rules.py): ``index`` in the key, ``column``."""

    def __init__(self, message: str, index: int, column: str) -> None:
        super().__init__(message)
        self.index, self.column = index, column


def _no_json_key(label: str, table: str, columns: Mapping[str, str], key: List[str]) -> None:
    found = json_key(columns, key)
    if found is not None:
        raise JsonKey(f"{label}: table '{table}': {json_key_message(found[1])}: {JSON_KEY_HINT}", *found)


class TableSpec:
    """One table of the row-changes form: its key, columns and encoders."""

    def __init__(self, label: str, name: str, spec: dict, column_of: ColumnOf) -> None:
        if not spec.get("key"):
            raise ConnectorError(f"{label}: table '{name}' needs 'key'")
        if not spec.get("columns"):
            raise ConnectorError(f"{label}: table '{name}' needs 'columns'")
        self.name = name
        self.key: List[str] = list(spec["key"])
        self.columns = [column_of(n, k) for n, k in spec["columns"].items()]
        self.key_columns = [c for c in self.columns if c.name in self.key]
        _no_json_key(label, name, spec["columns"], self.key)
        clash = [c.name for c in self.columns if c.name.lower() in BATCH_EXTRA]
        if clash:
            raise ReservedName(f"{label}: table '{name}': column name '{clash[0]}' is reserved")
        names = [c.name for c in self.columns]
        self.key_positions = [names.index(c.name) for c in self.key_columns]
        self.unchanged = Unchanged(self.columns, self.key)  # the columns that may carry a placeholder

    # built on first use: validate makes TableSpecs only to check them (~1 ms of compile() each)
    @cached_property
    def row(self) -> Callable[[dict], tuple]:
        return row_encoder(self.columns, self.name, self.key)

    @cached_property
    def key_row(self) -> Callable[[dict], tuple]:
        return row_encoder(self.key_columns, self.name, self.key)

    def padded(self, key: tuple) -> tuple:
        """A delete's row: the key's values in their columns, None elsewhere."""
        row: list = [None] * len(self.columns)
        for i, value in zip(self.key_positions, key, strict=False):
            row[i] = value
        return tuple(row)


T = TypeVar("T", bound=TableSpec)


def check_names(label: str, tables: Dict[str, dict]) -> None:
    """No declared table may be named as another one's positions table."""
    if not tables:
        raise ConnectorError(f"{label}: 'tables' is empty")
    lowered = {name.lower() for name in tables}
    hidden = [name for name in tables if name.lower().startswith(PREFIX) and name.lower()[len(PREFIX):] in lowered]
    if hidden:
        raise ReservedName(f"{label}: table '{hidden[0]}' is the positions table of "
                             f"'{hidden[0][len(PREFIX):]}'; name it otherwise")


def change_encoder(tables: Mapping[str, TableSpec]) -> Callable[[dict], Change]:
    """``row change -> Change``, checked against its table; run before the batch goes out."""

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


def plan(tables: Mapping[str, T], changes: List[Change]) -> Dict[T, Dict[tuple, Winner]]:
    """Per table, the change that stands for each key: the changes folded in arrival order
    under the positions rule (a key change is its old key's delete, then the new key's upsert)."""
    planned: Dict[T, Dict[tuple, Winner]] = {}
    for name, deleting, ident, row, position, old in changes:
        table = tables[name]
        winners = planned.setdefault(table, {})
        if old is not None:
            fold(winners, True, old, table.padded(old), position)
        fold(winners, deleting, ident, row, position)
    return planned


def plan_batch(tables: Mapping[str, T], changes: List[Change]) -> Tuple[List[Dict[T, Dict[tuple, Winner]]], bool]:
    """``plan`` in rounds, applied one after the other in the batch's transaction, and whether
    a change to write holds a placeholder of an unchanged value (engine/connectors/unchanged.py).

    One round, ``plan``'s, unless it does. A change holding one depends on its row as it was
    before it, so a fold must not drop the change before it: when its key changed earlier in
    the batch, it starts the key's next round (each round goes through the positions rule).
    """
    planned = plan(tables, changes)
    if not any(table.unchanged.in_winners(winners) for table, winners in planned.items()):
        return [planned], False
    rounds: List[Dict[T, Dict[tuple, Winner]]] = []
    at: Dict[Tuple[str, tuple], int] = {}  # each key's round

    def add(table: T, deleting: bool, key: tuple, row: tuple, position: Optional[Position], depends: bool) -> None:
        turn = at.get((table.name, key))
        turn = 0 if turn is None else turn + depends
        at[(table.name, key)] = turn
        if turn == len(rounds):
            rounds.append({})
        fold(rounds[turn].setdefault(table, {}), deleting, key, row, position)

    for name, deleting, ident, row, position, old in changes:
        table = tables[name]
        if old is not None:
            add(table, True, old, table.padded(old), position, False)
        add(table, deleting, ident, row, position, not deleting and bool(table.unchanged.kept(row)))
    return rounds, True


def check_tables(label: str, options: Mapping, make: Callable[[str, dict], TableSpec]) -> None:
    """A sink's ``tables`` checked when the topology is validated (no database needed): no table
    named as another's positions table, no reserved column or key name."""
    tables = options.get("tables")
    if not isinstance(tables, dict) or not tables:
        return
    try:
        check_names(label, tables)
    except ConnectorError as exc:
        raise _located(label, exc, ("tables",)) from None
    for name, spec in tables.items():
        try:
            make(name, spec)
        except ConnectorError as exc:  # a reserved name, or a column type this database lacks: at its table
            raise _located(label, exc, ("tables", name)) from None


def _located(label: str, exc: ConnectorError, path: tuple) -> ConfigError:
    if isinstance(exc, JsonKey):  # at the key, as validate's check of the one-table form (binding/sink_checks.py)
        return ConfigError(json_key_message(exc.column), (*path, "key", exc.index), hint=JSON_KEY_HINT)
    hint = ("rename it: the sink keeps each table's source positions in _positions_<table> (_lsn, _seq, _deleted) "
            "and stages batches with __vf_* columns") if isinstance(exc, ReservedName) else None
    return ConfigError(str(exc).removeprefix(f"{label}: "), path, hint=hint)
