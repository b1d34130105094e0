"""``event -> row`` for the table sinks, as one generated function per table.

A row is one converted value per column (``Column.convert``: the value check that turns what
the database would refuse into a dead letter). Calling each converter costs a Python call per
column and event, which for a table of 8 columns was most of the DuckDB and PostgreSQL sinks'
own time. The usual value of most column types passes its converter unchanged (an ``int`` in
range, a ``str`` of ASCII text, a ``datetime``, ...), a finite ``Decimal`` needs only its
rounding and range check, a JSON value one orjson call: ``Column.quick`` gives that as a test
over ``v`` and the value then, and the generated function does it without the call. A quick
test that raises (a decimal that does not fit, a value orjson refuses) sends the event to the
same function without quick tests, so the rare value pays for the check. Its contract, which
tests/connectors/test_row_encoding.py checks against the converters (Hypothesis): the row is
exactly what the converters give, and an event one of them refuses raises the same
``Unwritable``, naming the column.

The source is assembled from the ``quick`` templates of our own column types and from
positions; column names reach it only as constants bound in its namespace, never as text.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, List, Sequence

from engine.code_cache import compiled
from engine.connectors.duckdb_columns import Column, Later, describe_kind
from engine.connectors.errors import Unwritable

_NAMES = {"_date": date, "_datetime": datetime, "_int": int, "_float": float, "_bool": bool, "_str": str,
          "_Decimal": Decimal, "_Unwritable": Unwritable}


def row_encoder(columns: List[Column], table: str, key: Sequence[str] = ()) -> Callable[[dict], tuple]:
    """``event -> row`` (one converted value per column, in order); ``Unwritable`` names the
    column when a value cannot be stored, or a key column is null."""
    fields = [(c.name, c.convert) for c in columns]
    import orjson  # here, not at import: checking a table's columns (validate) builds no encoder

    scope: Dict[str, Any] = {**_NAMES, "_Redo": (InvalidOperation, orjson.JSONEncodeError)}

    def named(event: dict) -> Unwritable:
        """The same failure, saying which column (found again only for the failing event)."""
        for name, convert in fields:
            try:
                convert(event.get(name))
            except Unwritable as exc:
                return Unwritable(f"table '{table}', column '{name}': {exc}")
        return Unwritable(f"table '{table}': a value cannot be stored")

    scope["_named"], scope["_kind"] = named, describe_kind
    for i, column in enumerate(columns):
        scope[f"_n{i}"], scope[f"_c{i}"] = column.name, column.convert
        if column.name in key:
            scope[f"_null{i}"] = f"table '{table}': key column '{column.name}' is null"
        for name, value in column.quick.names if column.quick else ():
            scope[f"_k{i}{name}"] = value.make() if type(value) is Later else value
    source = _source(columns, key, "slow", quick=False) + _source(columns, key, "encode", quick=True)
    exec(compiled(source, f"<velocity-flow row of {table!r}>", "exec"), scope)  # noqa: S102 - see above
    return scope["encode"]


def _source(columns: List[Column], key: Sequence[str], function: str, quick: bool) -> str:
    """The encoder's text: with ``quick``, a quick test raising one of ``_Redo`` converts the
    event again with ``slow`` (the same function without quick tests)."""
    lines = [f"def {function}(event):",
             "    if event.__class__ is not dict:",
             "        raise _Unwritable('expected an event (an object), got ' + _kind(event))",
             "    g = event.get",
             "    try:"]
    for i, column in enumerate(columns):
        lines.append(f"        v{i} = g(_n{i})")
        if quick and column.quick:  # every converter returns None for None (the tests check it)
            test, value = (t.format(v=f"v{i}", r=f"r{i}", k=f"_k{i}") for t in column.quick[:2])
            lines += [f"        if {test}:", f"            v{i} = {value}", f"        elif v{i} is not None:"]
        else:
            lines.append(f"        if v{i} is not None:")
        lines.append(f"            v{i} = _c{i}(v{i})")
    if not columns:  # a table whose key names no column of it: refused elsewhere, encoded as ()
        lines.append("        pass")
    lines += ["    except _Unwritable:",
              "        raise _named(event) from None"]
    if quick:
        lines += ["    except _Redo:",
                  "        return slow(event)"]
    for i, column in enumerate(columns):
        if column.name in key:
            lines += [f"    if v{i} is None:", f"        raise _Unwritable(_null{i})"]
    values = "".join(f"v{i}, " for i in range(len(columns)))
    lines.append(f"    return ({values})")
    return "\n".join(lines) + "\n"
