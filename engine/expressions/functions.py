"""The documented functions of the expression language, and nothing else.

Each entry says which argument types it takes, what it returns and how it treats null.
``strict`` functions return null when any argument is null, without being called. Argument
types are checked when the topology loads where the types are known, and at run time
otherwise, so a wrong value dead-letters the event with a clear reason.

One bad event must never stop a flow: each function's work is bounded by the size of its
arguments (no backtracking regular expressions, no billion-digit integers, no text built from
the product of two event sizes), and bad input raises ValueError or TypeError with one line.
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, DefaultContext, getcontext
from typing import Any, Callable, Dict, Optional

from engine import clock, values
from engine.expressions import regex, types
from engine.expressions.declaration import Function, Kinds

STR: Kinds = frozenset({"str"})
INT: Kinds = frozenset({"int"})
NUM: Kinds = frozenset({"int", "float", "decimal"})
TIME: Kinds = frozenset({"timestamp"})
DAY: Kinds = frozenset({"timestamp", "date"})
DURATION: Kinds = frozenset({"duration"})
SIZED: Kinds = frozenset({"str", "list", "json"})
ANY: Kinds = None

MAX_TEXT = 1 << 24  # characters of a text built by replace() or join(): 16 Mi, far beyond any event
MAX_DIGITS = 4300  # of an integer: Python's own limit for int <-> text, and int(decimal) above it takes minutes
_EMAX = DefaultContext.Emax  # largest decimal exponent arithmetic accepts


def _same(arg_types: list) -> str:
    return arg_types[0] if arg_types else "any"


def _unified(arg_types: list) -> str:
    """The type of one of the arguments (least, greatest): greatest(n, 2.5) may be a float."""
    return functools.reduce(types.unify, arg_types, "null")


# -- strings -------------------------------------------------------------------------------
def _substr(text: str, start: int, count: Optional[int] = None) -> str:
    if start < 0:  # from the end: text[-3:-3 + 3] would be text[-3:0], nothing
        start = max(0, len(text) + start)
    if count is not None and count < 0:  # text[0:-1] would be all but the last character
        raise ValueError(f"the count of characters cannot be negative, got {count}")
    return text[start:] if count is None else text[start:start + count]


def _contains(container, item) -> bool:
    return item in container


def _split(text: str, separator: str) -> list:
    return text.split(separator)


def _replace(text: str, old: str, new: str) -> str:
    grows = len(new) - len(old)
    if grows > 0 and (len(text) + 1) * (len(new) + 1) > MAX_TEXT:  # count() only for big inputs
        size = len(text) + text.count(old) * grows
        if size > MAX_TEXT:
            raise ValueError(f"the result would have {size} characters (at most {MAX_TEXT})")
    return text.replace(old, new)


def _join(items: list, separator: str) -> str:
    texts = [values.to_str(i) for i in items if i is not None]
    if len(separator) * len(texts) > MAX_TEXT:
        raise ValueError(f"the result would have more than {MAX_TEXT} characters")
    return separator.join(texts)


def _concat(*parts) -> str:
    return "".join(values.to_str(p) for p in parts if p is not None)


def _extractor(pattern: str) -> Callable:
    return regex.literal(pattern, "extract")


# -- numbers -------------------------------------------------------------------------------
def _round(number, digits: int = 0):
    if type(number) is int:
        return number if digits >= 0 else int(_round(Decimal(number), digits))
    exact = Decimal(repr(number)) if type(number) is float else number
    size = exact.adjusted() + digits + 2  # digits of the result, with a carry
    try:
        if size <= 0:  # below half a unit of the last digit kept
            rounded = exact * 0
        elif size <= getcontext().prec:
            rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        elif type(number) is float and _exponent(exact) >= -digits:
            return number  # no digit beyond the requested ones: round(1e300, 2) needs no 300-digit quantize
        elif size > MAX_DIGITS:
            raise ValueError(f"the result would have {size} digits (at most {MAX_DIGITS})")
        else:  # the default context's 28 digits are too few: round(10 ** 30, -1)
            rounded = exact.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP, Context(prec=size))
    except ArithmeticError:  # decimal's InvalidOperation on infinities, exponents out of range
        raise ValueError(f"cannot round {number!r:.40} to {digits} digits") from None
    return float(rounded) if type(number) is float else rounded


def _exponent(exact: Decimal) -> float:
    """The exponent of a finite decimal; infinite for inf and nan (their quantize fails)."""
    exponent = exact.as_tuple().exponent
    return exponent if isinstance(exponent, int) else -math.inf


def _floor(number) -> int:
    if type(number) is Decimal:
        _check_integer_size(number)
        return int(number.to_integral_value(ROUND_FLOOR))
    try:
        return math.floor(number)
    except OverflowError:  # infinity
        raise ValueError(f"cannot convert {number} to an integer") from None


def _ceil(number) -> int:
    if type(number) is Decimal:
        _check_integer_size(number)
        return int(number.to_integral_value(ROUND_CEILING))
    try:
        return math.ceil(number)
    except OverflowError:
        raise ValueError(f"cannot convert {number} to an integer") from None


def _check_integer_size(number: Decimal) -> None:
    if not number.is_finite():
        raise ValueError(f"cannot convert {number} to an integer")
    if number.adjusted() >= MAX_DIGITS:
        raise ValueError(f"{number:.3e} has more than {MAX_DIGITS} digits")


def _int(value) -> int:
    if type(value) is Decimal:
        _check_integer_size(value)  # int(Decimal('1E+999999')) runs for 70 s
    try:
        return values.to_int(value)
    except OverflowError:  # float infinity
        raise ValueError(f"cannot convert {value} to an integer") from None


def _float(value) -> float:
    try:
        return values.to_float(value)
    except OverflowError:  # an int beyond 1.8e308
        raise ValueError(f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits "
                         "is too large for a float") from None


def _extreme(pick: Callable) -> Callable:
    def choose(*items):
        present = [i for i in items if i is not None]
        return pick(present) if present else None

    return choose


def _decimal(value) -> Decimal:
    if type(value) is float:
        return Decimal(repr(value))
    try:  # as cast reads one: ASCII digits only ('1_000', '١٢' refused), no list read as (sign, digits, exponent)
        number = values.parse_decimal(value.strip() if type(value) is str else value)
    except ValueError as exc:
        raise ValueError(f"not a decimal number: {value!r:.40}" if str(exc) == "not a number" else str(exc)) from None
    if number.adjusted() > _EMAX:  # any arithmetic on it would overflow
        raise ValueError(f"{number:.3e} is out of range (at most 1E+{_EMAX})")
    return number


def _json_parse(value):
    try:
        return values.to_json(value)
    except RecursionError:  # json.loads of '[[[[...'
        raise ValueError("JSON nested too deeply") from None


# -- time ------------------------------------------------------------------------------------
def _timestamp(value) -> datetime:
    try:
        return values.to_timestamp(value)
    except OverflowError:  # '9999-12-31T23:59:59-01:00': past the year 9999 in UTC
        raise ValueError(f"{value!r:.40} is out of range (years 1 to 9999 in UTC)") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TRUNCATE: Dict[str, Dict[str, Any]] = {
    "second": dict(microsecond=0), "minute": dict(second=0, microsecond=0),
    "hour": dict(minute=0, second=0, microsecond=0), "day": dict(hour=0, minute=0, second=0, microsecond=0),
    "month": dict(day=1, hour=0, minute=0, second=0, microsecond=0),
    "year": dict(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
}


def _check_unit(unit) -> None:
    if unit not in _TRUNCATE:
        raise ValueError(f"unknown unit '{unit}'; units: {', '.join(_TRUNCATE)}")


def _time_trunc(moment: datetime, unit: str) -> datetime:
    _check_unit(unit)
    return moment.replace(**_TRUNCATE[unit])


def _from_epoch(number, unit: str = "s") -> datetime:
    return _epoch_in(unit)(number)


def _check_epoch_unit(unit) -> None:
    if unit not in ("s", "ms", "us"):
        raise ValueError(f"unknown epoch unit '{unit}'; units: s, ms, us")


@functools.lru_cache(maxsize=None)  # three units: one converter each, one constant in generated code
def _epoch_in(unit: str) -> Callable:
    _check_epoch_unit(unit)
    convert = values.epoch_converter(unit)

    def from_epoch(number) -> datetime:
        if type(number) is float and not math.isfinite(number):
            raise ValueError(f"cannot convert {number} to a timestamp")
        try:
            return convert(number)
        except (ArithmeticError, OSError):  # fromtimestamp: OverflowError/OSError; decimal: InvalidOperation
            raise ValueError(f"{number!r:.40} {unit} since 1970 is not a timestamp between the years 1 and 9999") from None

    return from_epoch


def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _epoch(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


def _format_time(moment, pattern: str) -> str:
    if "\0" in pattern:  # strftime stops at a NUL character (C text): 'a\0b' gave 'a'
        return "\0".join(moment.strftime(part) for part in pattern.split("\0"))
    return moment.strftime(pattern)


def _now() -> datetime:
    return clock.now()  # the system's, or the clock a `velocity-flow test` case sets


def _duration(unit: str) -> Callable:
    def make(amount) -> timedelta:
        try:
            return timedelta(**{unit: float(amount) if type(amount) is Decimal else amount})
        except OverflowError:
            raise ValueError(f"{amount!r:.40} {unit} is out of range for a duration (at most 999999999 days)") from None

    return make


# -- ids and null ----------------------------------------------------------------------------
def _id_text(parts) -> str:
    """The parts' texts joined by US ('' for null): a text as it is, without a call (a list,
    not a generator: ~1,500 instructions less for four parts)."""
    return "\x1f".join([p if type(p) is str else "" if p is None else values.to_str(p) for p in parts])


_URL_NAMESPACE = bytes.fromhex("6ba7b8119dad11d180b400c04fd430c8")  # uuid.NAMESPACE_URL.bytes


def _hashes() -> None:
    """The SHA functions, at the first id made: CPython's own ``_sha1``/``_sha256`` (for the
    ~100 bytes of an id, ~1,500 instructions less than OpenSSL's through hashlib, and no
    OpenSSL at start: ~3 ms for the many topologies that make none), else hashlib's.
    ``_sha1`` and ``_sha256_of`` become them."""
    try:
        from _sha1 import sha1  # type: ignore[import-not-found]
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # a Python built without them
        from hashlib import sha1, sha256
    globals().update(_sha1=sha1, _sha256_of=sha256)


def _sha1(data: bytes) -> Any:  # _sha1.sha1 after the first call
    _hashes()
    return _sha1(data)


def _sha256_of(data: bytes) -> Any:  # _sha256.sha256 after the first call
    _hashes()
    return _sha256_of(data)


# the variant's hex digit of RFC 4122 (bits 10xx) over the digest's: "89ab"[digit & 3]
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid5_of(text: str) -> str:
    """``str(uuid.uuid5(uuid.NAMESPACE_URL, text))`` from the SHA-1's hex digits, the version
    (5) and variant digits written over: no UUID object, no bytearray. The written-out
    ``uuid5(...)`` of generated code calls it with the parts' text (engine/expressions/inline.py)."""
    digits = _sha1(_URL_NAMESPACE + text.encode()).hexdigest()
    return f"{digits[:8]}-{digits[8:12]}-5{digits[13:16]}-{_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:32]}"


def sha256_of(text: str) -> str:
    """The hex SHA-256 of ``text`` (UTF-8); the written-out ``sha256(...)`` calls it."""
    return _sha256_of(text.encode()).hexdigest()


def _uuid5(*parts) -> str:
    """``str(uuid.uuid5(NAMESPACE_URL, text))`` of the parts' ``_id_text``, without the UUID object."""
    return uuid5_of(_id_text(parts))


def _sha256(*parts) -> str:
    return sha256_of(_id_text(parts))


def _nullif(value, other):
    return None if value == other else value


def _length(value) -> int:
    return len(value)


def _table(*functions: Function) -> Dict[str, Function]:
    return {f.name: f for f in functions}


FUNCTIONS: Dict[str, Function] = _table(
    Function("lower", str.lower, (STR,), "str", "lower case", method="lower"),
    Function("upper", str.upper, (STR,), "str", "upper case", method="upper"),
    Function("trim", str.strip, (STR,), "str", "without leading and trailing white space", method="strip"),
    Function("ltrim", str.lstrip, (STR,), "str", "without leading white space", method="lstrip"),
    Function("rtrim", str.rstrip, (STR,), "str", "without trailing white space", method="rstrip"),
    Function("length", _length, (SIZED,), "int", "number of characters of a string, items of a list or keys of an object"),
    Function("substr", _substr, (STR, INT, INT), "str", "substr(s, start, count): `count` characters from 0-based `start` (to the end without `count`; negative counts from the end)", required=2),
    Function("replace", _replace, (STR, STR, STR), "str", "replace(s, old, new): every occurrence of `old` replaced"),
    Function("contains", _contains, (frozenset({"str", "list", "json"}), ANY), "bool", "contains(s, part): whether a string contains a substring, or a list an item"),
    Function("starts_with", str.startswith, (STR, STR), "bool", "starts_with(s, prefix)", method="startswith"),
    Function("ends_with", str.endswith, (STR, STR), "bool", "ends_with(s, suffix)", method="endswith"),
    Function("split", _split, (STR, STR), "list", "split(s, separator): list of strings"),
    Function("join", _join, (frozenset({"list", "json"}), STR), "str", "join(list, separator): items as text, nulls skipped"),
    Function("concat", _concat, (ANY,), "str", "concat(a, b, ...): the values as text, one after the other; nulls are skipped", variadic=True, strict=False),
    Function("matches", regex.matches, (STR, STR), "bool", "matches(s, regex): whether the regular expression matches somewhere in s", literal={1: regex.literal}, bind=regex.literal),
    Function("extract", regex.extract, (STR, STR), "str", "extract(s, regex): the first group (or the whole match) of the first match, null if none", literal={1: _extractor}, bind=_extractor),
    Function("str", values.to_str, (ANY,), "str", "text form: numbers as written, timestamps ISO-8601, objects as JSON"),
    Function("int", _int, (ANY,), "int", "integer; fails on fractions and non-numeric text"),
    Function("float", _float, (ANY,), "float", "floating-point number"),
    Function("decimal", _decimal, (ANY,), "decimal", "exact decimal number (from text, int, float or decimal)"),
    Function("bool", values.to_bool, (ANY,), "bool", "boolean from true/false, yes/no, 1/0"),
    Function("timestamp", _timestamp, (frozenset({"str", "timestamp"}),), "timestamp", "timestamp from ISO-8601 text (naive means UTC)"),
    Function("date", values.to_date, (frozenset({"str", "timestamp", "date"}),), "date", "calendar date from ISO text or a timestamp"),
    Function("json_parse", _json_parse, (STR,), "json", "parse JSON text"),
    Function("abs", lambda x: x.copy_abs() if type(x) is Decimal else abs(x), (NUM,), _same, "absolute value"),
    Function("round", _round, (NUM, INT), _same, "round(x, digits): half away from zero; digits default 0", required=1),
    Function("floor", _floor, (NUM,), "int", "largest integer <= x"),
    Function("ceil", _ceil, (NUM,), "int", "smallest integer >= x"),
    Function("least", _extreme(min), (ANY,), _unified, "least(a, b, ...): smallest non-null value", variadic=True, strict=False),
    Function("greatest", _extreme(max), (ANY,), _unified, "greatest(a, b, ...): largest non-null value", variadic=True, strict=False),
    Function("now", _now, (), "timestamp", "the current time (UTC), read when the event is processed", strict=False, pure=False),
    Function("year", lambda t: t.year, (DAY,), "int", "year of a timestamp or date"),
    Function("month", lambda t: t.month, (DAY,), "int", "month 1-12"),
    Function("day", lambda t: t.day, (DAY,), "int", "day of month 1-31"),
    Function("hour", lambda t: t.hour, (TIME,), "int", "hour 0-23 (UTC)"),
    Function("minute", lambda t: t.minute, (TIME,), "int", "minute 0-59"),
    Function("second", lambda t: t.second, (TIME,), "int", "second 0-59"),
    Function("weekday", date.isoweekday, (DAY,), "int", "ISO day of week: Monday 1 ... Sunday 7"),
    Function("time_trunc", _time_trunc, (TIME, STR), "timestamp", "time_trunc(t, unit): t truncated to second, minute, hour, day, month or year", literal={1: _check_unit}),
    Function("format_time", _format_time, (DAY, STR), "str", "format_time(t, format): strftime formatting, e.g. '%Y-%m-%d'"),
    Function("from_epoch", _from_epoch, (frozenset({"int", "float", "decimal", "str"}), STR), "timestamp", "from_epoch(n, unit): timestamp from epoch seconds, or unit 'ms' / 'us'", required=1, literal={1: _check_epoch_unit}, bind=_epoch_in),
    Function("epoch", _epoch, (TIME,), "float", "seconds since 1970-01-01T00:00Z"),
    Function("epoch_ms", _epoch_ms, (TIME,), "int", "whole milliseconds since 1970-01-01T00:00Z"),
    Function("milliseconds", _duration("milliseconds"), (NUM,), "duration", "a duration of n milliseconds"),
    Function("seconds", _duration("seconds"), (NUM,), "duration", "a duration of n seconds"),
    Function("minutes", _duration("minutes"), (NUM,), "duration", "a duration of n minutes"),
    Function("hours", _duration("hours"), (NUM,), "duration", "a duration of n hours"),
    Function("days", _duration("days"), (NUM,), "duration", "a duration of n days"),
    Function("total_seconds", timedelta.total_seconds, (DURATION,), "float", "length of a duration in seconds"),
    Function("nullif", _nullif, (ANY, ANY), _same, "nullif(x, y): null when x equals y, else x", strict=False),
    Function("uuid5", _uuid5, (ANY,), "str", "uuid5(a, b, ...): a deterministic UUID (version 5) of the values; same values, same id", variadic=True, strict=False),
    Function("sha256", _sha256, (ANY,), "str", "sha256(a, b, ...): hex SHA-256 of the values", variadic=True, strict=False),
)

# Built by the compiler itself, lazily: coalesce(a, b, ...) and if(condition, then, else).
SPECIAL_FORMS = {
    "coalesce": "coalesce(a, b, ...): the first non-null value",
    "if": "if(condition, then, else): `then` when the condition is true, else `else` (null counts as false)",
}
