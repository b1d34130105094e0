"""Converters of one Debezium column value (never None) by its Connect logical type.

``LOGICAL`` maps a column schema's ``name`` (Debezium's semantic type) to its converter;
docs/debezium.md lists every mapping and where Debezium documents it. Each converter returns
the typed value or raises ValueError with a short reason, whatever the value: bounded work
(decimals of at most ``MAX_UNSCALED_BYTES``, scales within ``MAX_SCALE``, JSON columns under
``engine.jsontext``'s rules) and no other exception type.
"""

from __future__ import annotations

import binascii
import decimal
import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Callable, Dict, Optional

from engine.infinite_dates import DATE_INFINITY, DATE_MINUS_INFINITY, INFINITE_EPOCH_DAYS
from engine.unavailable import UNAVAILABLE
from engine.values import (
    MINUS_INFINITY,
    NUMERIC_SCALE_DIGITS,
    NonFiniteFloat,
    infinite_epochs,
    loads_json_text,
    parse_timestamp,
)

DECIMAL = "org.apache.kafka.connect.data.Decimal"
UUID = "io.debezium.data.Uuid"
MAX_SCALE = NUMERIC_SCALE_DIGITS  # PostgreSQL's largest NUMERIC display scale
MAX_UNSCALED_BYTES = 64 * 1024  # ~157,000 digits: more than a PostgreSQL NUMERIC holds

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DATE = date(1970, 1, 1)
# PostgreSQL 'infinity' / '-infinity' timestamps, as the connector encodes them in each unit
# (engine.values.infinite_epochs): Python has no infinite datetime, so they become
# engine.values.INFINITY / MINUS_INFINITY (datetime.max / min in a subclass that JSON sinks
# write as "infinity" / "-infinity" and DuckDB stores as infinity).
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_SHORT_BITS = 12_000  # up to ~3,600 digits an integer goes to Decimal through its text
_scaleb = _EXACT.scaleb


class DecodeError(ValueError):
    """One column (or the envelope) could not be decoded; the message names it."""


# --- decimals -------------------------------------------------------------------------------

_a2b, _b2a, _from_bytes = binascii.a2b_base64, binascii.b2a_base64, int.from_bytes


def _unscaled(value) -> int:
    if type(value) is not str:
        raise ValueError(f"expected base64 text, got {type(value).__name__}")
    return _unscaled_text(value)


def _unscaled_text(value: str) -> int:
    if len(value) > MAX_UNSCALED_BYTES * 4 // 3 + 4:
        raise ValueError(f"more than {MAX_UNSCALED_BYTES} bytes")
    # canonical base64, as Debezium writes it: the text its bytes encode to (a2b_base64 skips other characters
    # and takes stray bits in the last one before padding; its strict_mode, 3.11+, takes those bits too)
    try:
        raw = _a2b(value)
    except ValueError:  # (binascii.Error: bad padding; non-ASCII text)
        raise ValueError("not base64 text") from None
    if _b2a(raw, newline=False) != value.encode():  # (ASCII: a2b_base64 took it)
        raise ValueError("not base64 text")
    if not raw:
        raise ValueError("empty bytes")
    return _from_bytes(raw, "big", signed=True)


def check_scale(scale) -> int:
    if type(scale) is not int:
        raise ValueError(f"the scale is not an integer: {scale!r:.20}")
    if not -MAX_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"the scale {scale} is beyond +-{MAX_SCALE}")
    return scale


def _scaled(unscaled: int, scale: int, shift: Optional[Decimal] = None) -> Decimal:
    """``unscaled * 10**-scale``, exact whatever the number of digits (no context rounding);
    ``shift``: ``Decimal(-scale)``, when the caller has it made (no Decimal made of the int)."""
    if unscaled.bit_length() <= _SHORT_BITS:  # (a context takes an int operand exactly; scaleb in _EXACT)
        return _scaleb(unscaled, Decimal(-scale) if shift is None else shift)
    return _EXACT.scaleb(_big_decimal(unscaled), -scale)


def _big_decimal(number: int) -> Decimal:
    """An integer of many digits as an exact Decimal in subquadratic time (as CPython 3.12's
    ``_pylong`` does): ``Decimal(int)`` and ``str(int)`` are quadratic (0.6 s for 150,000 digits)."""
    powers: Dict[int, Decimal] = {}

    def power(bits: int) -> Decimal:
        if bits not in powers:
            powers[bits] = _EXACT.power(Decimal(2), bits)
        return powers[bits]

    def convert(n: int, bits: int) -> Decimal:
        if bits <= 2048:
            return Decimal(n)
        half = bits >> 1
        high = n >> half
        return _EXACT.add(convert(n - (high << half), half), _EXACT.multiply(convert(high, bits - half), power(half)))

    magnitude = convert(abs(number), abs(number).bit_length())
    return _EXACT.minus(magnitude) if number < 0 else magnitude


def _number_decimal(value, scale: int) -> Decimal:
    """A decimal the converter wrote as a JSON number (JsonConverter ``decimal.format=NUMERIC``).

    An integer is exact. A fraction arrives as a double (JSON readers make it one): it is exact
    only when doubles near it are closer than the column's last digit, else dead-lettered
    (``123456789012345678.12`` has lost digits before it reached us)."""
    kind = type(value)
    if kind is bool:
        raise ValueError("booleans are not numbers")
    if kind is int:
        if value.bit_length() > MAX_UNSCALED_BYTES * 8:
            raise ValueError(f"more than {MAX_UNSCALED_BYTES} bytes")
        number = _big_decimal(value) if value.bit_length() > _SHORT_BITS else Decimal(value)
    elif kind is float:
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        if Decimal(math.ulp(value)) >= Decimal(1).scaleb(-scale):
            raise ValueError(f"a JSON number with more digits than a double holds at scale {scale} "
                             "(use decimal.format=BASE64, the default)")
        number = Decimal(value)
    else:
        raise ValueError(f"expected base64 text or a number, got {kind.__name__}")
    return number.quantize(Decimal(1).scaleb(-scale), context=_EXACT)


def decimal_bytes(scale: int) -> Callable:
    """``org.apache.kafka.connect.data.Decimal``: base64 of the big-endian two's-complement
    unscaled integer; the scale is the schema parameter."""

    def decode_decimal(value):
        if type(value) is str:
            return decode_text(value)
        if type(value) is Decimal:
            return value
        return _number_decimal(value, scale)

    shift = Decimal(-scale)

    def decode_text(value: str) -> Decimal:
        return _scaled(_unscaled_text(value), scale, shift)

    decode_decimal.usual_convert = decode_text  # type: ignore[attr-defined]  # (memoized: text, its usual values)
    return decode_decimal


def variable_scale_decimal(value):
    """``io.debezium.data.VariableScaleDecimal``: ``{"scale": int, "value": base64}``."""
    if type(value) is Decimal:
        return value
    if type(value) is not dict or "scale" not in value or "value" not in value:
        raise ValueError("expected {scale, value}")
    return _scaled(_unscaled(value["value"]), check_scale(value["scale"]))


# --- time -----------------------------------------------------------------------------------

def _integer(value) -> int:
    if type(value) is int:
        return value
    if type(value) is float and math.isfinite(value) and value == int(value):
        return int(value)
    raise ValueError(f"expected an integer, got {type(value).__name__}")


def _out_of_range() -> ValueError:
    return ValueError("out of the representable range (years 1-9999)")


# PostgreSQL's 'infinity' / '-infinity' dates as Debezium sends them: the year -5877611 (engine/infinite_dates.py),
# and, where it reads them through JDBC (an initial snapshot's dates, date[] items), the epoch day of pgjdbc's
# java.sql.Date of infinity (the year 292278994 / 292269055 in the JVM's zone) cut to 32 bits: one day more
# with a JVM east of UTC. Years near -1.7 million: no date of PostgreSQL's is one of them.
_INFINITE_DAYS = {**INFINITE_EPOCH_DAYS, -622191234: DATE_INFINITY, -622191233: DATE_INFINITY,
                  -625821272: DATE_MINUS_INFINITY, -625821271: DATE_MINUS_INFINITY}


def epoch_days(value):
    """``io.debezium.time.Date`` / ``org.apache.kafka.connect.data.Date``: days since the epoch."""
    if type(value) is date:
        return value
    days = _integer(value)
    try:
        return _EPOCH_DATE + timedelta(days=days)
    except OverflowError:
        infinite = _INFINITE_DAYS.get(days)  # PostgreSQL's 'infinity' / '-infinity' (above)
        if infinite is not None:
            return infinite
        raise _out_of_range() from None


def epoch(unit_per_second: int, infinities: bool) -> Callable:
    """Epoch numbers in a unit -> aware UTC datetime (integer arithmetic: exact)."""
    micros_per_unit = 1_000_000 // unit_per_second if unit_per_second <= 1_000_000 else None
    infinite_of = infinite_epochs(unit_per_second).get

    def decode_timestamp(value):
        if isinstance(value, datetime):
            return value
        return decode_number(_integer(value))

    def decode_number(number: int):  # (memoized: integers, its usual values)
        if infinities:
            infinite = infinite_of(number)
            if infinite is not None:
                return infinite
        if micros_per_unit is not None:
            micros = number * micros_per_unit
        else:  # nanoseconds: Python keeps microseconds (truncated toward the past)
            micros = number // (unit_per_second // 1_000_000)
        try:
            return _EPOCH + timedelta(0, 0, micros)  # (microseconds: positional, no keyword parsed)
        except OverflowError:
            raise _out_of_range() from None

    decode_timestamp.usual_convert = decode_number  # type: ignore[attr-defined]
    return decode_timestamp


def time_of_day(unit_per_second: int) -> Callable:
    """Time since midnight in a unit -> ``datetime.time`` (microsecond precision)."""

    def decode_time(value):
        if type(value) is time:
            return value
        number = _integer(value)
        micros = number * (1_000_000 // unit_per_second) if unit_per_second <= 1_000_000 else number // 1_000
        if not 0 <= micros < 86_400_000_000:
            raise ValueError("not a time of day (PostgreSQL's 24:00:00 has no Python time)")
        seconds, micro = divmod(micros, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return time(hour, minute, second, micro)

    return decode_time


def zoned_timestamp(value):
    """``io.debezium.time.ZonedTimestamp``: ISO-8601 text with an offset -> aware UTC datetime."""
    if isinstance(value, datetime):
        return value
    if type(value) is not str:
        raise ValueError(f"expected ISO-8601 text, got {type(value).__name__}")
    return _zoned_text(value)


def _zoned_text(value: str) -> datetime:  # (memoized: text, its usual values)
    try:
        return parse_timestamp(value)  # also 'infinity' / '-infinity' (INFINITY, MINUS_INFINITY)
    except ValueError:
        if value == _JDBC_MINUS_INFINITY:
            return MINUS_INFINITY
        raise


zoned_timestamp.usual_convert = _zoned_text  # type: ignore[attr-defined]


# '-infinity' in a timestamptz[]: pgjdbc's java.sql.Timestamp of it as Debezium writes it (an overflow of
# Java's calendar: no timestamp of PostgreSQL's, whose years end at 294276)
_JDBC_MINUS_INFINITY = "+292269055-12-02T23:00:00.000000Z"


def zoned_time(value):
    """``io.debezium.time.ZonedTime``: ISO-8601 time with an offset -> aware ``time`` in UTC."""
    if type(value) is time:
        return value
    if type(value) is not str:
        raise ValueError(f"expected ISO-8601 text, got {type(value).__name__}")
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {value!r:.40}") from None
    if parsed.tzinfo is None or parsed.tzinfo is timezone.utc:
        return parsed.replace(tzinfo=timezone.utc)
    offset = parsed.utcoffset()
    shifted = (datetime.combine(_EPOCH_DATE, parsed.replace(tzinfo=None)) - offset).time()
    return shifted.replace(tzinfo=timezone.utc)


# --- floats ---------------------------------------------------------------------------------

_NON_FINITE = {text: NonFiniteFloat(text) for text in ("NaN", "Infinity", "-Infinity")}  # JSON sinks write the text


def connect_float(value):
    """Connect ``float`` / ``double`` columns (REAL, DOUBLE PRECISION, decimals with
    ``decimal.handling.mode=double``): numbers as they are; PostgreSQL's ``'NaN'``,
    ``'Infinity'`` and ``'-Infinity'`` arrive as that text, as Kafka's JsonConverter (Jackson,
    which quotes non-finite doubles) writes them, and are read back as floats. A literal that
    is not the shortest text of its double (Java's ``4.9E-324``, and the too long texts of
    Double.toString before JDK 19) was read exactly, as a Decimal, by the decode step
    (engine/jsontext.py): it is the double it was written from."""
    if type(value) is str:
        found = _NON_FINITE.get(value)
        if found is None:
            raise ValueError("expected a number, or the text NaN, Infinity or -Infinity")
        return found
    if type(value) is Decimal:
        return float(value)
    return value


connect_float.floats_kept = True  # type: ignore[attr-defined]  # the row code calls it for anything but a float


# --- JSON -----------------------------------------------------------------------------------

_PLAIN_JSON: Dict[str, None] = {}  # texts whose value under those rules is orjson's own value of them
_JSON_MEMO, _JSON_TEXT = 1024, 1024  # texts remembered, and the longest remembered
_orjson_loads: Optional[Callable] = None  # orjson.loads, once a text has been remembered


def json_text(value):
    """``io.debezium.data.Json`` (json, jsonb, hstore in json mode): JSON text -> object, under
    ``engine.jsontext.loads_column``'s rules (exact integers, fractions a double cannot hold
    as ``Decimal``, no NaN, at most ``MAX_DEPTH`` levels). A column's texts repeat (an order's
    attributes in each of its updates): a text whose value under those rules was found to be
    exactly what orjson alone makes of it (same types, keys in the same order, floats with
    the same repr) is parsed by orjson alone the next times; each call gives a new object."""
    if type(value) is str:
        if value == UNAVAILABLE:  # an unchanged TOAST value: Debezium's placeholder, kept as sent
            return value
        if value in _PLAIN_JSON:
            return _orjson_loads(value)  # type: ignore[misc]  # set before the first text is remembered
        if value == _HSTORE_UNAVAILABLE:  # (never remembered: texts seen again do not get here)
            return UNAVAILABLE
        found = loads_json_text(value)
        if len(value) <= _JSON_TEXT:
            _remember_if_plain(value, found)
        return found
    if isinstance(value, (dict, list)):
        return value
    raise ValueError(f"expected JSON text, got {type(value).__name__}")


json_text.plain_texts = _PLAIN_JSON  # type: ignore[attr-defined]  # the row code parses these itself (orjson.loads)


_HSTORE_UNAVAILABLE = '{"%s":"%s"}' % (UNAVAILABLE, UNAVAILABLE)  # hstore.handling.mode=json (the other
# placeholders of unchanged TOAST values: debezium_schema)


def _remember_if_plain(text: str, found) -> None:
    global _orjson_loads
    import orjson  # imported by loads_json_text already: a look-up

    try:  # orjson writes two values alike only if they are the same JSON value, type for type
        # (1 and 1.0, -0.0 and 0.0, True and 1 apart; keys in order); in C, where a walk in
        # Python cost ~3x a parse
        same = orjson.dumps(found) == orjson.dumps(orjson.loads(text))
    except TypeError:  # a Decimal, an integer beyond 64 bits: the column rules' own value
        return
    if same:
        _orjson_loads = orjson.loads
        if len(_PLAIN_JSON) >= _JSON_MEMO:
            _PLAIN_JSON.clear()
        _PLAIN_JSON[text] = None


# logical type name -> converter of a non-null value (None: kept as it is)
LOGICAL: Dict[str, Optional[Callable]] = {
    "io.debezium.data.VariableScaleDecimal": variable_scale_decimal,
    "io.debezium.time.Date": epoch_days,
    "org.apache.kafka.connect.data.Date": epoch_days,
    "io.debezium.time.Timestamp": epoch(1_000, True),
    "io.debezium.time.MicroTimestamp": epoch(1_000_000, True),
    "io.debezium.time.NanoTimestamp": epoch(1_000_000_000, True),
    "org.apache.kafka.connect.data.Timestamp": epoch(1_000, True),
    "io.debezium.time.ZonedTimestamp": zoned_timestamp,
    "io.debezium.time.Time": time_of_day(1_000),
    "io.debezium.time.MicroTime": time_of_day(1_000_000),
    "io.debezium.time.NanoTime": time_of_day(1_000_000_000),
    "org.apache.kafka.connect.data.Time": time_of_day(1_000),
    "io.debezium.time.ZonedTime": zoned_time,
    "io.debezium.data.Json": json_text,
    # kept as they are (text, or numbers with no better Python type):
    UUID: None, "io.debezium.data.Enum": None, "io.debezium.data.EnumSet": None,
    "io.debezium.data.Xml": None,
    "io.debezium.data.Ltree": None, "io.debezium.time.Interval": None,
    "io.debezium.time.MicroDuration": None, "io.debezium.data.Bits": None,
}
# the logical types whose converted values are immutable (Decimal, datetime, date, time, text):
# debezium_schema may remember them per value
IMMUTABLE = frozenset(name for name in LOGICAL if name != "io.debezium.data.Json" and LOGICAL[name] is not None)
