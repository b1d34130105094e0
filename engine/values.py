"""Value conversions shared by ``cast`` and the expression functions (``int(x)``, ...).

One function per target type, strict and documented.

Each converter takes a non-null value and returns the converted value or raises ValueError
with a short reason. Nulls never reach them: a null stays null.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Callable, Dict

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}
_EPOCH_DIVISORS = {"s": 1, "ms": 1_000, "us": 1_000_000}
_DECIMAL = re.compile(r"^decimal\((\d+), ?(\d+)\)$")
_TIMESTAMP_UNIT = re.compile(r"^timestamp\((s|ms|us)\)$")


def to_int(value):
    kind = type(value)
    if kind is str:
        return int(value)  # int() itself ignores surrounding white space
    if kind is int:
        return value
    if kind is bool:
        raise ValueError("booleans are not integers")
    if kind is float or kind is Decimal:
        if value != int(value):
            raise ValueError("has a fractional part")
        return int(value)
    raise ValueError(f"cannot convert {kind.__name__}")


def to_float(value):
    kind = type(value)
    if kind is float:
        return value
    if kind is bool:
        raise ValueError("booleans are not numbers")
    if kind in (int, Decimal, str):
        return float(value)
    raise ValueError(f"cannot convert {kind.__name__}")


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
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, str):
        return json.loads(value)
    raise ValueError(f"cannot convert {type(value).__name__} to json")


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 text; 'Z' and offsets are honoured, naive times are taken as UTC."""
    try:  # the common case, in one C call (Python 3.11+ reads 'Z' itself)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _parse_timestamp_slowly(text)
    if parsed.tzinfo is timezone.utc:
        return parsed
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _parse_timestamp_slowly(text: str) -> datetime:
    """What fromisoformat alone refuses: white space, 'z', a space separator before 3.11."""
    original, text = text, text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise ValueError(f"not an ISO-8601 timestamp: {original!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def to_timestamp(value):
    if type(value) is datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise ValueError("expected ISO-8601 text; for epoch numbers use timestamp(s), timestamp(ms) or timestamp(us)")


def epoch_converter(unit: str) -> Callable:
    divisor = _EPOCH_DIVISORS[unit]

    def to_timestamp_from_epoch(value):
        if type(value) is int:  # the usual case, exact in integer arithmetic
            seconds, rest = divmod(value, divisor)
            return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=rest * 1_000_000 // divisor)
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
            return to_timestamp(value)
        if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
            return parse_timestamp(value)
        number = Decimal(str(value).strip())
        seconds, rest = divmod(number, divisor)
        base = datetime.fromtimestamp(int(seconds), timezone.utc)
        return base.replace(microsecond=int(rest * 1_000_000 / divisor))

    return to_timestamp_from_epoch


def to_date(value):
    kind = type(value)
    if kind is date:
        return value
    if kind is datetime:
        return value.date()
    if kind is str:
        text = value.strip()
        return date.fromisoformat(text[:10]) if len(text) >= 10 else date.fromisoformat(text)
    raise ValueError(f"cannot convert {kind.__name__} to date")


def decimal_converter(precision: int, scale: int) -> Callable:
    quantum = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)

    def to_decimal(value):
        kind = type(value)
        if kind is bool:
            raise ValueError("booleans are not numbers")
        try:
            number = Decimal(repr(value)) if kind is float else Decimal(value.strip() if kind is str else value)
        except (InvalidOperation, TypeError):
            raise ValueError("not a number") from None
        if not number.is_finite():
            raise ValueError("not a finite number")
        rounded = number.quantize(quantum, rounding=ROUND_HALF_UP)
        if abs(rounded) >= limit:
            raise ValueError(f"does not fit decimal({precision},{scale})")
        return rounded

    return to_decimal


_SIMPLE: Dict[str, Callable] = {
    "int": to_int, "float": to_float, "bool": to_bool, "str": to_str,
    "json": to_json, "timestamp": to_timestamp, "date": to_date,
}


def converter(type_name: str) -> Callable:
    """The converter for a cast type name; the topology schema has already checked its form."""
    if type_name in _SIMPLE:
        return _SIMPLE[type_name]
    unit = _TIMESTAMP_UNIT.match(type_name)
    if unit:
        return epoch_converter(unit.group(1))
    spec = _DECIMAL.match(type_name)
    if spec:
        precision, scale = int(spec.group(1)), int(spec.group(2))
        if scale > precision or precision == 0:
            raise ValueError(f"decimal({precision},{scale}): the scale must be at most the precision, which must be positive")
        return decimal_converter(precision, scale)
    raise ValueError(f"unknown type '{type_name}'")


def field_type(type_name: str) -> str:
    """The engine type a cast produces, for validation's field tracking."""
    return "timestamp" if type_name.startswith("timestamp") else type_name
