"""A test case's ``tables``: the rows a ``lookup`` step finds, instead of its database.

``tables: {STEP: [rows]}`` gives, per lookup step, the rows of its table as mappings of column
names (the lookup's ``key`` column and the columns its ``fields`` read; a column left out is
null). During the case the step reads them instead of DuckDB or PostgreSQL; a lookup step the
case gives no rows reads its real table. Every case starts with the lookups' caches empty.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from engine.binding.model import Topology
from engine.operators.joins.lookup import Lookup

Rows = Dict[str, List[Dict[str, Any]]]  # lookup step id -> its rows


class MemoryTable:
    """A lookup's table as given rows: ``read(keys)`` as DuckDBTable and PostgresTable do."""

    def __init__(self, key: str, columns: List[str], rows: List[Dict[str, Any]]) -> None:
        self._rows = {row[key]: tuple(row.get(column) for column in columns) for row in rows}

    def columns(self) -> Optional[Dict[str, str]]:
        return None

    def read(self, keys: list) -> Dict[Any, tuple]:
        return {key: self._rows[key] for key in keys if key in self._rows}


def lookups(topology: Topology) -> Dict[str, Lookup]:
    return {spec.id: spec.operator for spec in topology.steps if isinstance(spec.operator, Lookup)}


def read_tables(reader: Any, value: Any, node: tuple, topology: Topology) -> Rows:
    """``tables`` of a case, checked against the topology's lookup steps (problems at their lines)."""
    if value is None:
        return {}
    steps = lookups(topology)
    data = reader.mapping(value, node, "'tables'", tuple(steps))
    if data is None:
        return {}
    out: Rows = {}
    for step, rows in data.items():
        lookup = steps.get(step)
        if lookup is None:
            continue  # reported as an unknown key: the hint lists the lookup steps
        where = (*node, step)
        if not isinstance(rows, list):
            reader.problem(where, f"the rows of '{step}' are a list of mappings (column: value)")
            continue
        columns = (lookup.key, *lookup.fields.values())
        good = []
        for index, row in enumerate(rows):
            if reader.mapping(row, (*where, index), f"a row of '{step}'", columns) is None:
                continue
            if lookup.key not in row:
                reader.problem((*where, index), f"a row of '{step}' needs its key column '{lookup.key}'")
                continue
            if isinstance(row[lookup.key], (dict, list)):  # an event's key is a scalar: no event could find it
                reader.problem((*where, index, lookup.key), f"the key '{lookup.key}' of a row of '{step}' is "
                               f"a {type(row[lookup.key]).__name__}: give a text, a number or null")
                continue
            good.append(row)
        out[step] = good
    return out


class Swapped:
    """For one case: the given rows in place of the lookups' tables, every cache emptied;
    :meth:`restore` puts the real tables back."""

    def __init__(self, topology: Topology, rows: Rows) -> None:
        self._saved = []
        for step, lookup in lookups(topology).items():
            lookup.forget()
            if step in rows:
                self._saved.append((lookup, lookup.reader))
                lookup.reader = MemoryTable(lookup.key, list(lookup.fields.values()), rows[step])

    def restore(self) -> None:
        for lookup, real in self._saved:
            lookup.reader = real
            lookup.forget()
