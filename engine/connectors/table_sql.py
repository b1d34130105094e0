"""SQL text the table sinks (DuckDB and PostgreSQL) share: quoted names, ``CREATE TABLE``,
``INSERT ... SELECT ... ON CONFLICT``, the comparison of an existing table with the declared
columns, and the last row per key of a batch.

Both databases speak the same SQL here; what differs (type names, how a batch reaches the
database) stays in each sink's own module.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Union

from engine.connectors.duckdb_columns import Column
from engine.sql_names import quote  # noqa: F401 - this module's interface too


def column_differences(existing: Dict[str, str], columns: List[Column],
                       reported: Mapping[str, str]) -> List[str]:
    """What differs between a table's columns (name -> type as the database reports it) and
    ours, one phrase each; ``reported`` spells our types as the database reports them."""
    have = {name.lower(): (name, kind) for name, kind in existing.items()}
    want = {c.name.lower(): c for c in columns}
    problems = []
    for lower, column in want.items():
        expected = reported.get(column.sql_type, column.sql_type)
        if lower not in have:
            problems.append(f"missing column '{column.name}' ({expected})")
        elif have[lower][1] != expected:
            problems.append(f"column '{column.name}' is {have[lower][1]}, not {expected}")
    problems += [f"extra column '{name}' ({kind})" for lower, (name, kind) in have.items()
                 if lower not in want]
    return problems


def key_difference(have: List[str], key: List[str]) -> List[str]:
    """Upsert needs a primary key on exactly the key columns (ON CONFLICT relies on it)."""
    have = [n.lower() for n in have]
    if sorted(have) == sorted(k.lower() for k in key):
        return []
    shown = ", ".join(have) if have else "none"
    return [f"primary key is ({shown}), upsert needs ({', '.join(key)})"]


def create_sql(table: str, columns: List[Column], key: Optional[List[str]]) -> str:
    parts = [f"{quote(c.name)} {c.sql_type}" for c in columns]
    if key:
        parts.append(f"PRIMARY KEY ({', '.join(quote(k) for k in key)})")
    return f"CREATE TABLE IF NOT EXISTS {quote(table)} ({', '.join(parts)})"


def insert_sql(table: str, columns: List[Column], key: Optional[List[str]], source: str, cast: bool = True,
               keep: Collection[str] = ()) -> str:
    """INSERT ... SELECT from ``source`` (SQL text naming a relation with those columns, a
    ``WHERE`` may follow it); an upsert updates non-key columns, but for those in ``keep``
    (the table keeps their stored values: engine/connectors/unchanged.py). ``cast``: each column
    cast to its type (a source of other types, DuckDB's Arrow batch); without, taken as it is."""
    names = ", ".join(quote(c.name) for c in columns)
    select = ", ".join(f"CAST({quote(c.name)} AS {c.sql_type})" if cast else quote(c.name) for c in columns)
    sql = f"INSERT INTO {quote(table)} ({names}) SELECT {select} FROM {source}"
    if not key:
        return sql
    keys = {k.lower() for k in key}
    updates = [f"{quote(c.name)} = EXCLUDED.{quote(c.name)}" for c in columns
               if c.name.lower() not in keys and c.name not in keep]
    target = ", ".join(quote(k) for k in key)
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return f"{sql} ON CONFLICT ({target}) {action}"


def last_per_key(rows: List[tuple], key_positions: List[int],
                 merge: Optional[Callable[[tuple, tuple], tuple]] = None) -> List[tuple]:
    """The last row of each key, in last-seen key order; with ``merge``, ``merge(earlier, later)``
    of a key's rows, one after the other.

    One upsert statement that meets a key twice does not apply the later row (DuckDB 1.x
    keeps the first, older versions and PostgreSQL raise), yet the later event is the newer state.
    """
    try:  # the usual batch holds each key once: one pass in C to see it
        if len(set(map(itemgetter(*key_positions), rows))) == len(rows):
            return rows
    except TypeError:  # an unhashable key value
        pass
    latest: Dict[Any, tuple] = {}
    for row in rows:
        ident: Union[tuple, bytes] = tuple([row[i] for i in key_positions])
        try:
            hash(ident)  # (an empty dict's pop would not hash it)
        except TypeError:  # an unhashable key value: compare its JSON text
            from engine.connectors.jsonl import encode_value  # rare: not imported to check tables (validate)
            ident = encode_value(list(ident))
        earlier = latest.pop(ident, None)
        latest[ident] = row if earlier is None or merge is None else merge(earlier, row)
    return list(latest.values())
