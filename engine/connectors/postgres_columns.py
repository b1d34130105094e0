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
holding a NUL character (PostgreSQL's text cannot), JSON holding a number beyond numeric's
range. Decimal values travel rounded to the column's scale, so two spellings of one number
(``1.5``, ``1.50``) are one key.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Callable

from engine.connectors.duckdb_columns import Column, Later, Quick, decimal_converter, decimal_quick, json_quick
from engine.connectors.errors import ConnectorError, Unwritable
from engine.values import NUMERIC_SCALE_DIGITS, NUMERIC_WHOLE_DIGITS

_DECIMAL = re.compile(r"^decimal\((\d+), ?(\d+)\)$")
_TYPES = {"int": "bigint", "float": "double precision", "bool": "boolean", "str": "text", "date": "date",
          "json": "jsonb", "timestamp": "timestamp with time zone"}
# The positions side table's lsn, seq and deleted flag (duckdb_positions.Positions)
POSITION_TYPES = ("numeric(39,0)", "bigint", "boolean")


# PostgreSQL cuts a longer name to 63 bytes (NAMEDATALEN) with only a NOTICE: two names alike in
# their first 63 bytes would be one table or column, and a table's next start finds none of its name
NAME_BYTES = 63
# a table's side tables prefix its name: _positions_<table>, __vf_stage_<table>
SIDE_PREFIX_BYTES = 11


def check_name(what: str, name: str, room: int = 0) -> None:
    """Refuse a name PostgreSQL would cut (``room``: bytes the sink prefixes to it) or cannot hold (NUL)."""
    if "\x00" in name:
        raise ConnectorError(f"postgres sink: {what} name {name!r} holds a NUL character, which PostgreSQL "
                             "names cannot")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > NAME_BYTES - room:
        extra = f" ({room} more are the sink's prefix of its side tables)" if room else ""
        raise ConnectorError(f"postgres sink: {what} name '{name[:40]}...' is {size} bytes; PostgreSQL cuts names to "
                             f"{NAME_BYTES}{extra}: give one of at most {NAME_BYTES - room} bytes")


def pg_column(name: str, kind: str) -> Column:
    """The column ``name`` of YAML type ``kind`` in a PostgreSQL table."""
    check_name("column", name)
    match = _DECIMAL.match(kind)
    if kind not in _TYPES and match is None:
        raise ConnectorError(f"postgres sink: column '{name}' has unknown type '{kind}' (known: "
                             f"{', '.join(_TYPES)}, decimal(p,s))")
    checked = Column.of(name, kind)
    if match is not None:
        precision, scale = (int(g) for g in match.groups())
        return Column(name, f"numeric({precision},{scale})", checked.arrow_type,
                      decimal_converter(precision, scale, text=False), decimal_quick(precision, scale, text=False))
    convert = {"str": _no_nul(checked.convert), "json": _no_nul_json(checked.convert),
               "timestamp": _infinity(checked.convert), "date": _infinity(checked.convert)}.get(kind, checked.convert)
    # what passes DuckDB's check unchanged passes these too (a datetime is no infinity), text without NUL
    quick = checked.quick
    if kind == "str" and quick is not None:
        quick = Quick(f"({quick.test} and '\\x00' not in {{v}})", quick.value)
    elif kind == "json":
        quick = json_quick(no_nul=True, default=Later(_json_default))
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
        # the slow way only: the quick one's default refused a number, or it met something else
        found = _jsonb_problem(value, text is not None and "\\u0000" in text)
        if found is HOLDS_NUL:
            raise Unwritable("JSON text holds a NUL character (PostgreSQL's jsonb cannot)")
        if found is not None:
            raise Unwritable(f"JSON number {str(found)[:40]} is beyond PostgreSQL's numeric (jsonb's numbers): at "
                             f"most {_NUMERIC_WHOLE} digits before the point and {_NUMERIC_SCALE} after")
        return text

    return json_text


# jsonb's numbers are numeric: any JSON number beyond these fails the whole COPY ("value overflows
# numeric format"); only a Decimal can be written beyond them (a float is at most ~1e308)
_NUMERIC_WHOLE, _NUMERIC_SCALE = NUMERIC_WHOLE_DIGITS, NUMERIC_SCALE_DIGITS


def _fits_numeric(number: Decimal) -> bool:
    return number.adjusted() < _NUMERIC_WHOLE and number.as_tuple().exponent >= -_NUMERIC_SCALE  # type: ignore


def _json_default() -> Any:
    """The JSON writers' ``default``, refusing (so that the event takes the slow way) a Decimal jsonb cannot hold."""
    from engine.connectors.jsonl import JSON_DEFAULT

    def default(value: Any) -> Any:
        if type(value) is Decimal and value.is_finite() and not _fits_numeric(value):
            raise ValueError("beyond numeric")
        return JSON_DEFAULT(value)

    return default


HOLDS_NUL = object()  # what _jsonb_problem finds in a value holding a NUL character


def _jsonb_problem(value: Any, nul: bool) -> Any:
    """What in a JSON value jsonb cannot hold, in one walk: ``HOLDS_NUL`` when a string or an
    object's key holds a NUL character (looked for only with ``nul``: the value's text showed one;
    it wins over a number), else the first finite Decimal numeric cannot hold, else None."""
    if isinstance(value, Decimal):  # the flat values first, as cheap as they were (no NUL: no str test)
        return value if value.is_finite() and not _fits_numeric(value) else None
    if isinstance(value, dict):
        if nul and any(isinstance(k, str) and "\x00" in k for k in value):  # keys are text, never numbers
            return HOLDS_NUL
        items: Any = value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        return HOLDS_NUL if nul and isinstance(value, str) and "\x00" in value else None
    wide = None
    for item in items:
        found = _jsonb_problem(item, nul)
        if found is not None:
            if found is HOLDS_NUL or not nul:
                return found
            if wide is None:
                wide = found  # a NUL further on still wins
    return wide


def _infinity(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """DuckDB's infinite timestamps and dates are integer extremes; PostgreSQL's are words."""

    def timestamp(value: Any) -> Any:
        value = convert(value)
        if type(value) is int:
            return "infinity" if value > 0 else "-infinity"
        return value

    return timestamp
