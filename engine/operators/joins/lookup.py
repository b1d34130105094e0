"""``lookup``: enrich each event with a row of a table, read by key (docs/joins.md): a DuckDB
file (``duckdb: path``) or a PostgreSQL database (``postgres: DSN``, lookup_postgres.py).

For reference data that lives in a database rather than in a stream. Per batch, the keys that
are not in the cache (or whose entry is older than ``ttl``) are read with **one** read-only
query holding the list of keys; a key the table lacks is cached too (as absent), so a burst of
unknown keys costs one query. The cache keeps at most ``cache`` keys, the least recently used
leaving first; ``ttl`` bounds how stale a row may be.

A DuckDB database is opened read-only for each query and closed after it, so a flow writing the
reference data can open it between queries; the cache is shared by the workers of a process
behind a lock. A batch whose query fails (the file missing or locked by a writer at that
moment, a table gone; PostgreSQL: see lookup_postgres.py) raises: the error boundary then
dead-letters its events one by one with the reason, and the flow goes on. When a DuckDB file
exists at validation time, the table and the columns ``key`` and ``fields`` name are checked
there (a typo is an error at its line), and the output fields take the columns' types.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

from engine.durations import duration_option
from engine.errors import ConfigError
from engine.hints import did_you_mean
from engine.operators.expr import compile_option
from engine.operators.fields import Fields, with_fields
from engine.records import DeadLetter
from engine.sql_names import quote

_ABSENT = None
_TYPES = {"VARCHAR": "str", "BIGINT": "int", "INTEGER": "int", "SMALLINT": "int", "TINYINT": "int", "HUGEINT": "int",
          "UBIGINT": "int", "UINTEGER": "int", "DOUBLE": "float", "FLOAT": "float", "REAL": "float",
          "BOOLEAN": "bool", "DATE": "date", "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp",
          "JSON": "json"}


def engine_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.lower().replace(" ", "")
    return _TYPES.get(duckdb_type, "any")


def _seconds(config: dict, name: str, default: str) -> float:
    return duration_option(config.get(name, default), (name,)).total_seconds()


class Lookup:
    """A stateless step: the cache is a per-process accelerator, not state (it is rebuilt from the
    database after a restart)."""

    kind = "stateless"

    def __init__(self, step_id: str, config: dict, input_fields: Fields, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.step_id = step_id
        self.table, self.key = config["table"], config["key"]
        self.fields: Dict[str, str] = dict(config["fields"])
        self.left = config.get("how", "left") == "left"
        self.on = compile_option(config["on"], input_fields, ("on",))
        self.ttl = _seconds(config, "ttl", "60s")
        self.capacity = int(config.get("cache", 10_000))
        self.clock = clock
        self.queries = 0  # how many queries were made (tests, the bench)
        self._cache: "OrderedDict[Any, Tuple[float, Optional[tuple]]]" = OrderedDict()
        self._lock = threading.Lock()
        self.reader = self._reader(step_id, config)
        columns = self.reader.columns()
        types = {name: engine_type(columns[column]) if columns else "any" for name, column in self.fields.items()}
        self.output_fields = with_fields(input_fields, types) if input_fields is not None else None

    def _reader(self, step_id: str, config: dict) -> Any:
        names = [self.key, *self.fields.values()]
        if "postgres" in config:
            from engine.operators.joins.lookup_postgres import PostgresTable

            return PostgresTable(step_id, config["postgres"] or "", config.get("schema"), self.table, names,
                                 _seconds(config, "reconnect", "30s"))
        for option in ("schema", "reconnect"):
            if option in config:
                raise ConfigError(f"'{option}' is an option of a PostgreSQL lookup (postgres: DSN), not of a "
                                  "DuckDB one", (option,))
        return DuckDBTable(config["duckdb"], self.table, self.key, self.fields)

    def forget(self) -> None:
        """Empty the cache: the next batch reads every key again (``velocity-flow test``'s cases)."""
        with self._lock:
            self._cache.clear()

    # -- per batch ------------------------------------------------------------------------
    def process(self, batch: list) -> Tuple[List[dict], List[DeadLetter]]:
        on = self.on
        keys = [on(event) for event in batch]
        with self._lock:
            rows = self._rows({k for k in keys if k is not None})
        names = list(self.fields)
        nulls = dict.fromkeys(names)
        out = []
        for key, event in zip(keys, batch, strict=True):
            row = rows.get(key) if key is not None else None
            if row is not None:
                out.append({**event, **dict(zip(names, row, strict=True))})
            elif self.left:
                out.append({**event, **nulls})
        return out, []

    def _rows(self, keys: set) -> Dict[Any, Optional[tuple]]:
        now = self.clock()
        cache = self._cache
        found: Dict[Any, Optional[tuple]] = {}
        missing = []
        for key in keys:
            entry = cache.get(key)
            if entry is not None and entry[0] > now:
                found[key] = entry[1]
                cache.move_to_end(key)
            else:
                missing.append(key)
        if missing:
            read: Dict[Any, tuple] = {}
            for same_type in _by_type(missing):  # a list of mixed types would be read as the database guesses
                self.queries += 1
                read.update(self.reader.read(same_type))
            for key in missing:
                row = read.get(key, _ABSENT)
                found[key] = row
                cache[key] = (now + self.ttl, row)
                cache.move_to_end(key)
            while len(cache) > self.capacity:
                cache.popitem(last=False)
        return found


def _by_type(keys: list) -> List[list]:
    """``keys`` in lists of one type each: a key of another type than the column fails its own query
    (the batch's events are then read one by one, that key's a dead letter) rather than being read
    as the type the database makes of a list mixing it with keys of the column's type (a miss)."""
    if all(type(key) is type(keys[0]) for key in keys):
        return [keys]
    groups: Dict[type, list] = {}
    for key in keys:
        groups.setdefault(type(key), []).append(key)
    return list(groups.values())


class DuckDBTable:
    """The rows of one table of a DuckDB file by key, the file opened read-only for each query."""

    def __init__(self, path: str, table: str, key: str, fields: Dict[str, str]) -> None:
        self.path, self.table, self.key, self.fields = path, table, key, fields
        names = ", ".join(quote(c) for c in (key, *fields.values()))
        self._sql = f"SELECT {names} FROM {quote(table)} WHERE {quote(key)} IN (SELECT unnest(?))"

    def columns(self) -> Optional[Dict[str, str]]:
        """The table's columns and types when the database exists now; a missing name is an error."""
        if not os.path.isfile(self.path):
            return None  # written by another flow, later: checked when it is read
        import duckdb

        try:
            with duckdb.connect(self.path, read_only=True) as con:
                tables = [r[0] for r in con.execute(
                    "SELECT table_name FROM information_schema.tables").fetchall()]
                if self.table not in tables:
                    raise ConfigError(f"no table '{self.table}' in {self.path}", ("table",),
                                      hint=did_you_mean(self.table, tables) or "tables: " + ", ".join(sorted(tables)))
                columns = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                           "WHERE table_name = ?", [self.table]).fetchall())
        except duckdb.Error as exc:  # locked by a writer, not a database: checked when it is read
            if "lock" in str(exc).lower():
                return None
            raise ConfigError(f"cannot read {self.path}: {str(exc).splitlines()[0]}", ("duckdb",)) from None
        for where, column in [(("key",), self.key), *((("fields", n), c) for n, c in self.fields.items())]:
            if column not in columns:
                raise ConfigError(f"no column '{column}' in table '{self.table}'", where,
                                  hint=did_you_mean(column, columns) or "columns: " + ", ".join(columns))
        return columns

    def read(self, keys: list) -> Dict[Any, tuple]:
        import duckdb

        # opened per query, not kept: an open read-only connection would keep a writer (another
        # flow refreshing the reference data) from opening the file
        with duckdb.connect(self.path, read_only=True) as con:
            result = con.execute(self._sql, [keys]).fetchall()
        return {row[0]: tuple(row[1:]) for row in result}
