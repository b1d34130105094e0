"""DuckDB table columns: the SQL type, the Arrow type a batch travels as, and the per-value
check that keeps one event's value from failing a whole batch insert.

Every value is converted (and checked) when its event is encoded, before the batch goes out:
an integer beyond BIGINT, a decimal with more digits than its column, a date that is no
date or a NULL primary key makes *that event* a dead letter (``Unwritable``) and the rest of
the batch is written. What DuckDB would do with a value is decided here, not by a failed
``INSERT`` of a thousand rows.

Type mapping (YAML column type -> DuckDB):
``int`` BIGINT, ``float`` DOUBLE (NaN and infinities are stored as such), ``bool`` BOOLEAN,
``str`` VARCHAR, ``date`` DATE, ``json`` JSON (the value's JSON text: decimals and big
integers with every digit), ``timestamp`` TIMESTAMPTZ (an instant, read back in UTC;
``engine.values.INFINITY`` / ``MINUS_INFINITY``, and the text ``infinity`` / ``-infinity`` JSON
sinks write for them, are DuckDB's ``infinity`` / ``-infinity``), ``decimal(p,s)`` DECIMAL(p,s)
(exact: decimals travel as text, rounded to ``s`` here as DuckDB rounds, ties away from zero).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

from engine.connectors.errors import ConnectorError, Unwritable
from engine.frozen import Frozen, set_fields
from engine.infinite_dates import InfiniteDate
from engine.values import InfiniteTimestamp, parse_decimal, parse_timestamp, to_date

if TYPE_CHECKING:
    import pyarrow as pa

_DECIMAL = re.compile(r"^decimal\((\d+), ?(\d+)\)$")
_BIGINT = (-(2 ** 63), 2 ** 63 - 1)
_INF = float("inf")
_NAN = float("nan")  # the float columns' NaN (_float)
# DuckDB's infinite timestamps: the largest and smallest int64 microseconds (an Arrow
# timestamp column takes the integers as they are)
_DUCKDB_INFINITY = 2 ** 63 - 1
_DUCKDB_DATE_INFINITY = 2 ** 31 - 1  # days: DuckDB's infinite date
_DUCKDB_MAX_PRECISION = 38


def _int(value: Any) -> Any:
    if type(value) is int:
        if _BIGINT[0] <= value <= _BIGINT[1]:
            return value
        raise Unwritable(f"{_short(value)} is beyond BIGINT's 64-bit range")
    if value is None or type(value) is bool:
        return value if value is None else int(value)
    if isinstance(value, Decimal) and value.is_snan():  # comparing one raises InvalidOperation
        raise Unwritable(f"expected an integer, got {_kind(value)}")
    if isinstance(value, (float, Decimal)) and value == value and value not in (_INF, -_INF) \
            and value == int(value):  # 3.0 is the integer 3; 3.5 is not
        return _int(int(value))
    raise Unwritable(f"expected an integer, got {_kind(value)}")


def _float(value: Any) -> Any:
    if type(value) is float:
        # one NaN object for every NaN: NaN != NaN, but a tuple holding the same object equals itself,
        # so a batch's NaN keys are one key (the databases' NaN equals NaN: as two, the upsert fails)
        return value if value == value else _NAN
    if value is None:
        return value
    if type(value) is int:  # as a float here: Arrow's float64 refuses an int beyond int64, PostgreSQL one beyond 1e308
        try:
            return float(value)
        except OverflowError:
            raise Unwritable(f"{_short(value)} is beyond DOUBLE's range") from None
    if isinstance(value, float):  # engine.values.NonFiniteFloat: Debezium's NaN and infinities
        return _float(float(value))
    if isinstance(value, Decimal):
        if value.is_snan():  # float() raises for a signaling NaN (a quiet one is float nan)
            raise Unwritable(f"expected a number, got {_kind(value)}")
        number = float(value)
        if value.is_nan():
            return _NAN
        if value.is_finite() and number in (_INF, -_INF):  # float() makes 1E+400 infinity: not the number
            raise Unwritable(f"{_short(value)} is beyond DOUBLE's range")
        return number
    raise Unwritable(f"expected a number, got {_kind(value)}")


def _bool(value: Any) -> Any:
    if value is None or type(value) is bool:
        return value
    raise Unwritable(f"expected true or false, got {_kind(value)}")


def _str(value: Any) -> Any:
    if type(value) is str:
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Unwritable("text holds a lone surrogate (not valid UTF-8)") from None
        return value
    if value is None:
        return None
    raise Unwritable(f"expected text, got {_kind(value)}")


def _date(value: Any) -> Any:
    """ISO-8601 text and datetimes become dates; infinite dates (and their text) DuckDB's
    infinities (days since 1970 as int32 extremes, what Arrow's date32 carries to DuckDB)."""
    kind = type(value)
    if kind is str:
        try:
            value = to_date(value)  # also a timestamp's text (its date), and the words of infinity
        except ValueError:
            raise Unwritable(f"not an ISO-8601 date: {_short(value)}") from None
        kind = type(value)
    if kind is datetime:
        return value.date()
    if value is None or kind is date:
        return value
    if kind is InfiniteDate:
        return _DUCKDB_DATE_INFINITY if value.positive else -_DUCKDB_DATE_INFINITY
    raise Unwritable(f"expected a date, got {_kind(value)}")


def _timestamp(value: Any) -> Any:
    """ISO-8601 text (events read back from JSON) becomes a timestamp; datetimes pass through;
    infinite timestamps (and their text) become DuckDB's infinities."""
    kind = type(value)
    if kind is str:
        try:
            value = parse_timestamp(value)
        except ValueError:
            raise Unwritable(f"not an ISO-8601 timestamp: {_short(value)}") from None
        kind = type(value)
    if kind is datetime:
        # naive is UTC; made aware here because a naive and an aware datetime of one instant are
        # unequal in Python: as keys of one batch both would reach the upsert, which fails
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if value is None:
        return value
    if kind is InfiniteTimestamp:
        return _DUCKDB_INFINITY if value.positive else -_DUCKDB_INFINITY
    raise Unwritable(f"expected a timestamp, got {_kind(value)}")


def _json(value: Any) -> Any:
    if value is None:
        return None
    from engine.connectors.jsonl import encode_value  # not at import: checking tables (validate) needs no orjson
    return encode_value(value).decode("utf-8")


class Quick(NamedTuple):
    """A column's usual values without the call to its converter (engine/connectors/row_encoding.py).

    ``test`` is an expression over ``{v}`` (the field's value) that may bind ``{r}``; when it
    holds, ``value`` is the column's value (``"{v}"``: unchanged). ``{k}<name>`` names one of
    ``names``, constants bound for this column. The test may raise ``InvalidOperation`` or
    orjson's ``JSONEncodeError``: the encoder then converts the whole event the slow way. A
    constant given as a ``Later`` is made when the encoder is built (``Later.value()``), not
    when the column is declared: checking a table's columns (``validate``) imports no orjson."""

    test: str
    value: str
    names: Tuple[Tuple[str, Any], ...] = ()


class Later(NamedTuple):
    """A constant of a quick test made when a row encoder is built: ``make()``."""

    make: Callable[[], Any]


def _orjson_dumps() -> Any:
    import orjson

    return orjson.dumps


def _json_default() -> Any:
    from engine.connectors.jsonl import JSON_DEFAULT

    return JSON_DEFAULT


def decimal_quick(precision: int, scale: int, text: bool) -> Quick:
    """``decimal_converter``'s work on a finite ``Decimal``: ``quantize`` in a context of
    exactly ``precision`` digits signals ``InvalidOperation`` when the rounded number does not
    fit (more than ``precision - scale`` whole digits), which sends the event the slow way."""
    test = "({v}.__class__ is _Decimal and {v}.is_finite() and ({r} := {k}quantize({v}, {k}q)) is not None)"
    return Quick(test, "_str({r})" if text else "{r}",  # the context's bound method: the cheapest call
                 (("q", Decimal(1).scaleb(-scale)), ("quantize", _rounding(precision).quantize)))


def _rounding(precision: int) -> Context:
    """Rounding to a column's scale as DuckDB's DECIMAL and PostgreSQL's numeric both do (ties away
    from zero), in ``precision`` digits: a result that needs more signals ``InvalidOperation``."""
    return Context(prec=precision, rounding=ROUND_HALF_UP)


def json_quick(no_nul: bool, default: Optional[Later] = None) -> Quick:
    """``_json``'s work in one expression: orjson called as ``encode_value`` first calls it
    (the converter's layers cost more than the encoding); with ``no_nul``, JSON text without
    an escaped NUL. ``default`` makes orjson's ``default``: one that raises sends the event the slow way."""
    test = "({v} is not None and ({r} := {k}dumps({v}, default={k}default).decode()) is not None)"
    if no_nul:
        test = test[:-1] + " and '\\\\u0000' not in {r})"
    return Quick(test, "{r}", (("dumps", Later(_orjson_dumps)), ("default", default or Later(_json_default))))


def decimal_converter(precision: int, scale: int, text: bool) -> Callable[[Any], Any]:
    """The check of a ``decimal(p,s)`` value: the number rounded to ``s`` here, as the database
    would, so that two spellings of one number (``1.5``, ``1.50``) are one key of a batch (the
    last event of a key wins only when the keys compare equal before they reach the database);
    as text with ``text`` (DuckDB's Arrow batch: every digit, and never an exponent such as
    ``1E-999999999`` that its cast from text refuses), else as a ``Decimal`` (psycopg's)."""
    whole_digits = precision - scale
    quantum = Decimal(1).scaleb(-scale)
    quantize = _rounding(precision).quantize

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is bool or not isinstance(value, (Decimal, int, float, str)):
            raise Unwritable(f"expected a decimal number, got {_kind(value)}")
        try:
            number = parse_decimal(value)
        except ValueError as exc:
            raise Unwritable(f"{_short(value)} does not fit DECIMAL({precision},{scale})" if "finite" in str(exc)
                             else f"not a decimal number: {_short(value)}") from None
        try:  # rounded first: 9999999.9995 in DECIMAL(10,3) does not fit
            rounded = quantize(number, quantum)
        except InvalidOperation:
            raise Unwritable(f"{_short(number)} has more than {whole_digits} digits before the point "
                             f"(DECIMAL({precision},{scale}))") from None
        return str(rounded) if text else rounded

    return convert


# type -> (SQL type, Arrow type, converter, the test of a value the converter returns unchanged
# over {v}, in the names of engine/connectors/row_encoding.py's generated scope (_int is the
# class int there); None: always convert)
_SIMPLE = {
    "int": ("BIGINT", "int64", _int, Quick(f"({{v}}.__class__ is _int and {_BIGINT[0]} <= {{v}} <= {_BIGINT[1]})",
                                           "{v}")),
    "float": ("DOUBLE", "float64", _float, Quick("({v}.__class__ is _float and {v} == {v})", "{v}")),
    "bool": ("BOOLEAN", "bool_", _bool, Quick("{v}.__class__ is _bool", "{v}")),
    "str": ("VARCHAR", "string", _str, Quick("({v}.__class__ is _str and {v}.isascii())", "{v}")),
    "date": ("DATE", "date32", _date, Quick("{v}.__class__ is _date", "{v}")),
    "json": ("JSON", "string", _json, json_quick(no_nul=False)),
    "timestamp": ("TIMESTAMPTZ", "timestamp", _timestamp,
                  Quick("({v}.__class__ is _datetime and {v}.tzinfo is not None)", "{v}")),
}


@functools.lru_cache(maxsize=None)
def arrow_type(name: str) -> "pa.DataType":
    """The Arrow type a column travels as, by name: pyarrow is imported when a batch is first
    written, not when a topology's tables are only checked (``validate``)."""
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC") if name == "timestamp" else getattr(pa, name)()


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


describe_kind = _kind  # for the generated row encoders' message


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of over 4300 digits, which repr refuses: the message must not fail
        return "(an integer of over 4,300 digits)" if isinstance(value, int) else "(too long to show)"
    return text if len(text) <= 60 else text[:57] + "..."


class Column(Frozen):  # a frozen record (engine/frozen.py): dataclasses is not imported to check tables
    """One table column: its SQL type, the Arrow type it travels as, and its value check."""

    __slots__ = ("name", "sql_type", "arrow_type", "convert", "quick")
    name: str
    sql_type: str
    arrow_type: str  # a name for arrow_type(): int64, float64, bool_, string, date32, timestamp
    convert: Callable[[Any], Any]
    quick: Optional[Quick]  # the usual values without the call to convert

    def __init__(self, name: str, sql_type: str, arrow_type: str, convert: Callable[[Any], Any],
                 quick: Optional[Quick] = None) -> None:
        set_fields(self, name, sql_type, arrow_type, convert, quick)

    @classmethod
    def of(cls, name: str, kind: str) -> "Column":
        if kind in _SIMPLE:
            return cls(name, *_SIMPLE[kind])
        match = _DECIMAL.match(kind)
        if match is None:
            raise ConnectorError(f"duckdb sink: column '{name}' has unknown type '{kind}' (known: "
                                 f"{', '.join(_SIMPLE)}, decimal(p,s))")
        precision, scale = (int(g) for g in match.groups())
        return cls(name, f"DECIMAL({precision},{scale})", "string", decimal_converter(precision, scale, text=True),
                   decimal_quick(precision, scale, text=True))

    @classmethod
    def in_duckdb(cls, name: str, kind: str) -> "Column":
        """``of``, for a DuckDB table: its DECIMAL holds at most 38 digits (PostgreSQL's numeric 1000,
        which the topology's types allow), refused when the flow is validated, not when it starts."""
        column = cls.of(name, kind)
        match = _DECIMAL.match(kind)
        if match is not None and int(match.group(1)) > _DUCKDB_MAX_PRECISION:
            raise ConnectorError(f"duckdb sink: column '{name}' is {kind}, but DuckDB's DECIMAL holds at most "
                                 f"{_DUCKDB_MAX_PRECISION} digits: give decimal(38,s) or fewer digits, or keep the "
                                 "value as str")
        return column

    def array(self, values: Sequence[Any]) -> "pa.Array":
        """The Arrow column of values that ``convert`` already checked."""
        import pyarrow as pa

        return pa.array(values, type=arrow_type(self.arrow_type))


def arrow_table(columns: List[Column], rows: List[tuple]) -> "pa.Table":
    """One Arrow table of checked rows (column-major, as DuckDB reads it)."""
    import pyarrow as pa

    if not rows:
        return pa.Table.from_arrays([c.array([]) for c in columns], names=[c.name for c in columns])
    by_column = zip(*rows, strict=False)
    return pa.Table.from_arrays([c.array(list(values)) for c, values in zip(columns, by_column, strict=False)],
                                names=[c.name for c in columns])
