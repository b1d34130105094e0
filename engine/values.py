"""Value conversions shared by ``cast`` and the expression functions (``int(x)``, ...).

One function per target type, strict and documented.

Each converter takes a non-null value and returns the converted value or raises ValueError
with a short reason, whatever the value (huge, non-finite, of an unexpected type). Nulls never
reach them: a null stays null. Numeric text is ASCII digits (``1_000`` and non-ASCII digits,
which Python's own parsers accept, are refused), and numbers are finite.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Callable, Dict, Optional, Tuple

from engine.infinite_dates import DATE_INFINITY, DATE_MINUS_INFINITY, INFINITE_DATE_WORDS, Infinite, InfiniteDate

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}
_EPOCH_DIVISORS = {"s": 1, "ms": 1_000, "us": 1_000_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_DIGITS = 4300  # Python's own limit for int <-> text
_EPOCH_NUMBER = re.compile(r"-?\d+(\.\d*)?", re.ASCII)
_DECIMAL = re.compile(r"^decimal\((\d+), ?(\d+)\)$")
_TIMESTAMP_UNIT = re.compile(r"^timestamp\((s|ms|us)\)$")
# PostgreSQL 'infinity' / '-infinity' timestamps as the PostgreSQL JDBC driver, hence Debezium,
# encodes them (epoch ms); out of range in every unit, so never a real instant
PLUS_INFINITY_EPOCH = 9223372036825200000
MINUS_INFINITY_EPOCH = -9223372036832400000
_INFINITY_WORDS = {"infinity": True, "+infinity": True, "-infinity": False}


class InfiniteTimestamp(Infinite, datetime):
    """PostgreSQL's ``'infinity'`` / ``'-infinity'`` timestamp (``INFINITY``, ``MINUS_INFINITY``).

    Python has no infinite datetime: these are ``datetime.max`` / ``datetime.min`` (UTC) in a
    subclass that says what they are. They compare, sort and subtract as those datetimes (so
    expressions never fail on them); adding or subtracting a duration leaves them infinite.
    Their text is ``infinity`` / ``-infinity`` (``str``, ``isoformat``): JSON sinks write that
    string (orjson hands them to the sinks' ``default``, which writes ``str``), and
    ``parse_timestamp`` reads it back, so they survive a JSON hop; the DuckDB sink stores
    DuckDB's ``infinity`` / ``-infinity`` timestamps."""

    __slots__ = ()
    _NAMES = ("MINUS_INFINITY", "INFINITY")


INFINITY = InfiniteTimestamp(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
MINUS_INFINITY = InfiniteTimestamp(1, 1, 1, tzinfo=timezone.utc)

# PostgreSQL's numeric, the widest number a sink stores: digits before the point, and after it
NUMERIC_WHOLE_DIGITS, NUMERIC_SCALE_DIGITS = 131072, 16383


class NonFiniteFloat(float):
    """PostgreSQL's ``'NaN'``, ``'Infinity'`` and ``'-Infinity'`` of a REAL / DOUBLE PRECISION
    column, which Debezium sends as that text (the JsonConverter's Jackson quotes non-finite
    doubles): a float in every computation (whose results the expressions refuse as before),
    and JSON sinks write that text again (``json_text``) where orjson writes a plain NaN as
    ``null``, a value changed silently. The DuckDB sink stores it as the float it is."""

    __slots__ = ()

    def json_text(self) -> str:
        return "NaN" if self != self else "Infinity" if self > 0 else "-Infinity"


def _infinite(positive: bool) -> InfiniteTimestamp:
    return INFINITY if positive else MINUS_INFINITY


InfiniteTimestamp._REBUILT = _infinite


# The same infinities in a column's own unit: Debezium turns them into a date-time first and
# then into the column's unit, so TIMESTAMP(0..3) columns (io.debezium.time.Timestamp, and
# Connect's Timestamp with time.precision.mode=connect) carry them in ms, the numbers above
# divided by 1000 (out of range as ms too), and time.precision.mode=nanoseconds sends
# Long.MAX_VALUE / Long.MIN_VALUE (PG connector docs, *Temporal types*)
_INFINITE_IN_UNIT = {1_000: (PLUS_INFINITY_EPOCH // 1_000, MINUS_INFINITY_EPOCH // 1_000),
                     1_000_000_000: (2 ** 63 - 1, -(2 ** 63))}


def infinite_epochs(units_per_second: int) -> Dict[int, InfiniteTimestamp]:
    """The epoch integers in that unit by which Debezium encodes PostgreSQL's ``'infinity'`` /
    ``'-infinity'``, with ``INFINITY`` / ``MINUS_INFINITY``: a converter looks its numbers up
    in it (one dict lookup per value, on the hot path of every timestamp column)."""
    table = {PLUS_INFINITY_EPOCH: INFINITY, MINUS_INFINITY_EPOCH: MINUS_INFINITY}
    plus, minus = _INFINITE_IN_UNIT.get(units_per_second, (PLUS_INFINITY_EPOCH, MINUS_INFINITY_EPOCH))
    table.update({plus: INFINITY, minus: MINUS_INFINITY})
    return table


def _not_plain(value: str, what: str) -> ValueError:
    return ValueError(f"invalid literal for {what}: {value!r:.40}")


def to_int(value):
    kind = type(value)
    if kind is str:
        if value.isascii() and "_" not in value:  # int() alone takes '1_000' and non-ASCII digits
            try:
                return int(value)  # int() itself ignores surrounding white space
            except ValueError as exc:
                if "Exceeds the limit" in str(exc):
                    raise ValueError(f"more than {_MAX_DIGITS} characters") from None
                raise
        raise _not_plain(value, "int() with base 10")
    if kind is int:
        return value
    if kind is bool:
        raise ValueError("booleans are not integers")
    if kind is float or kind is Decimal:
        if not (value.is_finite() if kind is Decimal else math.isfinite(value)):
            raise ValueError("not a finite number")
        if kind is Decimal and value.adjusted() >= _MAX_DIGITS:
            raise ValueError(f"more than {_MAX_DIGITS} digits")
        if value != int(value):
            raise ValueError("has a fractional part")
        return int(value)
    raise ValueError(f"cannot convert {kind.__name__}")


def to_float(value):
    kind = type(value)
    if kind is float or kind is NonFiniteFloat:  # Debezium's NaN of a float column stays what it is
        return value
    if kind is bool:
        raise ValueError("booleans are not numbers")
    if kind is str:
        if not value.isascii() or "_" in value:
            raise _not_plain(value, "float()")
        number = float(value)
    elif kind is int or kind is Decimal:
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("too large for a float") from None
    else:
        raise ValueError(f"cannot convert {kind.__name__}")
    if not math.isfinite(number):
        raise ValueError("not a finite number" if kind is not int else "too large for a float")
    return number


def to_bool(value):
    kind = type(value)
    if kind is bool:
        return value
    if kind is int and value in (0, 1):
        return value == 1
    if kind is str:
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("expected true/false, yes/no, 1/0")


def to_str(value):
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is Decimal:
        return str(value)
    if kind in (dict, list):
        return json.dumps(value, separators=(",", ":"), default=str)
    if kind is bool:
        return "true" if value else "false"
    if kind in (datetime, date):
        return value.isoformat()
    return str(value)


def to_json(value):
    """Objects and lists as they are; text parsed as JSON (``engine.jsontext.loads_column``:
    exact integers, fractions a double cannot hold as ``Decimal``, no NaN/Infinity, at most
    ``jsontext.MAX_DEPTH`` levels)."""
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, str):
        return (_loads_column or _jsontext_loads())(value)
    raise ValueError(f"cannot convert {type(value).__name__} to json")


def loads_json_text(text: str) -> Any:
    """``engine.jsontext.loads_column(text)``, that module imported at the first call."""
    return (_loads_column or _jsontext_loads())(text)


_loads_column: Optional[Callable[[str], Any]] = None


def _jsontext_loads() -> Callable[[str], Any]:
    """engine.jsontext (and orjson with it) at the first json conversion, not at import: a
    ``validate`` converts nothing, and orjson's import brings dataclasses, inspect and uuid."""
    global _loads_column
    from engine.jsontext import loads_column
    _loads_column = loads_column
    return loads_column


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 text; 'Z' and offsets are honoured, naive times are taken as UTC."""
    try:  # the common case, in one C call (Python 3.11+ reads 'Z' itself)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _parse_timestamp_slowly(text)
    if len(text) > 10 and text[10] not in _SEPARATORS and text[8] not in _SEPARATORS:
        _unseparated(text)
    if parsed.tzinfo is timezone.utc:
        return parsed
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else _in_utc(parsed, text)


_SEPARATORS = "Tt "  # between a date (YYYY-MM-DD, YYYYMMDD, week dates) and its time


def _unseparated(text: str) -> None:
    """fromisoformat takes any character between the date and the time: a 20-digit id read as
    1111-11-11T11:11:11.11111 (a digit there), '2026-11-02X06:00' as a time. ISO 8601 has 'T'
    (RFC 3339 a space too): anything else is no timestamp."""
    raise ValueError(f"not an ISO-8601 timestamp: {text!r:.40} (a 'T' separates the date from the time)")


def _in_utc(parsed: datetime, text: str) -> datetime:
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # '0001-01-01T00:30:00+01:00' is in year 0 in UTC
        raise ValueError(f"{text!r:.40} is out of range (years 1 to 9999 in UTC)") from None


def _parse_timestamp_slowly(text: str) -> datetime:
    """What fromisoformat alone refuses: white space, 'z', a space separator before 3.11."""
    original, text = text, text.strip()
    infinite = _INFINITY_WORDS.get(text.lower())
    if infinite is not None:  # PostgreSQL's words, and what JSON sinks write for them
        return INFINITY if infinite else MINUS_INFINITY
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise ValueError(f"not an ISO-8601 timestamp: {original!r}") from None
    if len(text) > 10 and text[10] not in _SEPARATORS and text[8] not in _SEPARATORS:
        _unseparated(original)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return _in_utc(parsed, original)


def to_timestamp(value):
    if type(value) is datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        return parse_timestamp(value)
    if type(value) is InfiniteTimestamp:
        return value
    raise ValueError("expected ISO-8601 text; for epoch numbers use timestamp(s), timestamp(ms) or timestamp(us)")


def epoch_converter(unit: str) -> Callable:
    """Numbers since 1970-01-01T00:00:00Z in ``unit`` (s, ms, us) -> aware UTC datetime, exact;
    ISO text is read as ``timestamp``; PostgreSQL's infinities as Debezium encodes them
    (``infinite_epochs``: ``PLUS_INFINITY_EPOCH``, ``MINUS_INFINITY_EPOCH``, and in ms those
    divided by 1000) are ``INFINITY`` / ``MINUS_INFINITY``.
    Outside years 1-9999: ValueError."""
    micros_per_unit = 1_000_000 // _EPOCH_DIVISORS[unit]

    def out_of_range(value):
        return ValueError(f"{value!r:.40} {unit} since 1970 is not a timestamp between the years 1 and 9999")

    infinite_of = infinite_epochs(_EPOCH_DIVISORS[unit]).get

    def to_timestamp_from_epoch(value):
        kind = type(value)
        if kind is int:  # the usual case, exact in integer arithmetic
            infinite = infinite_of(value)
            if infinite is not None:
                return infinite
            micros = value * micros_per_unit
        elif kind is float or kind is Decimal or (kind is str and _EPOCH_NUMBER.fullmatch(value.strip())):
            number = Decimal(value.strip()) if kind is str else Decimal(value)
            if not number.is_finite() or number.adjusted() > 30:
                raise out_of_range(value)
            micros = int(number * micros_per_unit)  # toward zero, like the text of a fraction
        elif kind is str:
            return parse_timestamp(value)
        else:
            return to_timestamp(value)  # a datetime as it is; anything else: the reason
        try:  # a timedelta times an int: exact, and cheaper than parsing the keyword (~3,000 instructions)
            return _EPOCH + timedelta.resolution * micros
        except OverflowError:
            raise out_of_range(value) from None

    return to_timestamp_from_epoch


def to_date(value):
    kind = type(value)
    if kind is date:
        return value
    if kind is datetime:
        return value.date()
    if kind is str:
        text = value.strip()
        try:
            if len(text) > 10:  # a timestamp's text: its own date, once the rest reads as a time ('...xyz' not)
                parse_timestamp(text)
            return date.fromisoformat(text[:10]) if len(text) >= 10 else date.fromisoformat(text)
        except ValueError:
            infinite = INFINITE_DATE_WORDS.get(text.lower())  # PostgreSQL's words, and what JSON sinks write
            if infinite is None:
                raise
            return infinite
    if kind is InfiniteDate:
        return value
    if kind is InfiniteTimestamp:
        return DATE_INFINITY if value.positive else DATE_MINUS_INFINITY
    raise ValueError(f"cannot convert {kind.__name__} to date")


def parse_decimal(value: Any) -> Decimal:
    """A finite ``Decimal`` of a number or numeric text, exactly (a float by its shortest repr);
    ValueError otherwise. The one reading of decimals: ``cast`` and the DuckDB sink use it."""
    kind = type(value)
    if kind is bool:
        raise ValueError("booleans are not numbers")
    try:
        if kind is float:
            number = Decimal(repr(value))
        elif kind is str:  # Decimal() alone takes '1_000' and non-ASCII digits
            number = Decimal(value if value.isascii() and "_" not in value else "x")
        elif kind is int or kind is Decimal:
            number = Decimal(value)
        else:  # Decimal() reads a list or tuple as (sign, digits, exponent)
            raise ValueError("not a number")
    except (InvalidOperation, TypeError, ValueError, OverflowError):
        raise ValueError("not a number") from None
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def decimal_converter(precision: int, scale: int) -> Callable:
    quantum = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)
    context = Context(prec=precision + 2, rounding=ROUND_HALF_UP)  # enough for any value that fits

    def to_decimal(value):
        number = parse_decimal(value)
        try:  # a result of more digits than fit is refused before any work (1e999999999)
            rounded = context.quantize(number, quantum)
        except InvalidOperation:
            raise ValueError(f"does not fit decimal({precision},{scale})") from None
        if rounded.copy_abs() >= limit:  # 9.995 -> 10.00 (abs() would round to 28 digits)
            raise ValueError(f"does not fit decimal({precision},{scale})")
        return rounded

    return to_decimal


_SIMPLE: Dict[str, Callable] = {
    "int": to_int, "float": to_float, "bool": to_bool, "str": to_str,
    "json": to_json, "timestamp": to_timestamp, "date": to_date,
}


def decimal_spec(type_name: str) -> Optional[Tuple[int, int]]:
    """``(precision, scale)`` of a ``decimal(p,s)`` type name, else None."""
    spec = _DECIMAL.match(type_name)
    return (int(spec.group(1)), int(spec.group(2))) if spec else None


def converter(type_name: str) -> Callable:
    """The converter for a cast type name; the topology schema has already checked its form."""
    if type_name in _SIMPLE:
        return _SIMPLE[type_name]
    unit = _TIMESTAMP_UNIT.match(type_name)
    if unit:
        return epoch_converter(unit.group(1))
    spec = decimal_spec(type_name)
    if spec:
        precision, scale = spec
        if scale > precision or precision == 0:
            raise ValueError(f"decimal({precision},{scale}): "
                             "the scale must be at most the precision, which must be positive")
        return decimal_converter(precision, scale)
    raise ValueError(f"unknown type '{type_name}'")


def field_type(type_name: str) -> str:
    """The engine type a cast produces, for validation's field tracking."""
    return "timestamp" if type_name.startswith("timestamp") else type_name
