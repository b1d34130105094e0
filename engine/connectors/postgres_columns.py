"""PostgreSQL table columns: the DuckDB sink's column types and value checks
(``duckdb_columns``), spelled as PostgreSQL reports them, with what PostgreSQL refuses and
DuckDB takes.

Type mapping (YAML column type -> PostgreSQL): ``int`` bigint, ``float`` double precision
(NaN and infinities stored as such), ``bool`` boolean, ``str`` text, ``date`` date, ``json``
jsonb (the value's JSON text, decimals and big integers with every digit; jsonb keeps the value,
not the text's key order or spacing), ``timestamp`` timestamp with time zone (an instant;
infinite timestamps are PostgreSQL's ``infinity`` / ``-infinity``), ``decimal(p,s)``
numeric(p,s) (exact, rounded to ``s`` here, ties away from zero as numeric rounds).

Each value is converted when its event is encoded, before the batch goes out, so a value
PostgreSQL would refuse dead-letters its own event: besides DuckDB's checks, text or JSON
holding a NUL character (PostgreSQL's text cannot). Decimal values travel rounded to the
column's scale, so two spellings of one number (``1.5``, ``1.50``) are one key.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP
from typing import Any, Callable

from engine.connectors.duckdb_columns import Column, Quick, decimal_converter, decimal_quick, json_quick
from engine.connectors.errors import ConnectorError, Unwritable

_DECIMAL = re.compile(r"^decimal\((\d+), ?(\d+)\)$")
_TYPES = {"int": "bigint", "float": "double precision", "bool": "boolean", "str": "text", "date": "date",
          "json": "jsonb", "timestamp": "timestamp with time zone"}
# The positions side table's lsn, seq and deleted flag (duckdb_positions.Positions)
POSITION_TYPES = ("numeric(39,0)", "bigint", "boolean")


def pg_column(name: str, kind: str) -> Column:
    """The column ``name`` of YAML type ``kind`` in a PostgreSQL table."""
    match = _DECIMAL.match(kind)
    if kind not in _TYPES and match is None:
        raise ConnectorError(f"postgres sink: column '{name}' has unknown type '{kind}' (known: "
                             f"{', '.join(_TYPES)}, decimal(p,s))")
    checked = Column.of(name, kind)
    if match is not None:
        precision, scale = (int(g) for g in match.groups())
        return Column(name, f"numeric({precision},{scale})", checked.arrow_type,
                      decimal_converter(precision, scale, ROUND_HALF_UP),  # as numeric rounds: ties away from 0
                      decimal_quick(precision, scale, ROUND_HALF_UP))
    convert = {"str": _no_nul(checked.convert), "json": _no_nul_json(checked.convert),
               "timestamp": _infinity(checked.convert), "date": _infinity(checked.convert)}.get(kind, checked.convert)
    # what passes DuckDB's check unchanged passes these too (a datetime is no infinity), text without NUL
    quick = checked.quick
    if kind == "str" and quick is not None:
        quick = Quick(f"({quick.test} and '\\x00' not in {{v}})", quick.value)
    elif kind == "json":
        quick = json_quick(no_nul=True)
    return Column(name, _TYPES[kind], checked.arrow_type, convert, quick)


def _no_nul(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def text(value: Any) -> Any:
        value = convert(value)
        if value is not None and "\x00" in value:
            raise Unwritable("text holds a NUL character (PostgreSQL text cannot)")
        return value

    return text


def _no_nul_json(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def json_text(value: Any) -> Any:
        text = convert(value)
        if text is not None and "\\u0000" in text and _holds_nul(value):
            raise Unwritable("JSON text holds a NUL character (PostgreSQL's jsonb cannot)")
        return text

    return json_text


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    return False


def _infinity(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """DuckDB's infinite timestamps and dates are integer extremes; PostgreSQL's are words."""

    def timestamp(value: Any) -> Any:
        value = convert(value)
        if type(value) is int:
            return "infinity" if value > 0 else "-infinity"
        return value

    return timestamp
