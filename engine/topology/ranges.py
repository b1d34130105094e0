"""Values the topology schema's patterns let through but nothing could use: a duration beyond
what a ``timedelta`` holds (``99999999999999999999d``), a decimal type whose precision is zero,
smaller than its scale, or wider than any sink column (``decimal(0,0)``, ``decimal(2,5)``).

Both shape checks (engine/topology/quick_shape.py, engine/topology/schema.py) ask
:func:`out_of_range` after a pattern matched, so such a value is a located shape error rather
than an exception in the component that reads it.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Optional, Tuple

from engine.durations import DurationTooLong, parse_duration

# PostgreSQL's widest numeric (DuckDB's widest DECIMAL is 38); a cast's decimals are kept as wide
MAX_DECIMAL_PRECISION = 1000
_DECIMAL = re.compile(r"decimal\((\d+), ?(\d+)\)$")
_MAX_DIGITS = len(str(MAX_DECIMAL_PRECISION))

Reason = Tuple[str, Optional[str]]  # message, hint


def _duration(value: str) -> Optional[Reason]:
    try:
        parse_duration(value)
    except DurationTooLong:
        return f"duration '{value}' is too long", "at most 999999999 days (999999999d)"
    except ValueError:  # zero: the component that reads it says it must be positive
        return None
    return None


def _decimal(value: str) -> Optional[Reason]:
    match = _DECIMAL.match(value)
    if match is None:
        return None
    digits, scale_digits = match.groups()
    if len(digits.lstrip("0")) > _MAX_DIGITS or len(scale_digits.lstrip("0")) > _MAX_DIGITS:
        precision, scale = MAX_DECIMAL_PRECISION + 1, 0  # never int() of thousands of digits
    else:
        precision, scale = int(digits), int(scale_digits)
    if precision > MAX_DECIMAL_PRECISION:
        return (f"{value}: the precision must be at most {MAX_DECIMAL_PRECISION}",
                "PostgreSQL's numeric holds at most 1000 digits, DuckDB's DECIMAL 38")
    if scale > precision or precision == 0:
        return f"{value}: the scale must be at most the precision, which must be positive", None
    return None


_CHECKS: Dict[str, Callable[[str], Optional[Reason]]] = {
    "duration": _duration, "castType": _decimal, "columnType": _decimal,
}


def out_of_range(pattern: str, value: str, root: dict) -> Optional[Reason]:
    """Why ``value``, which matches ``pattern`` of the schema ``root``, is still unusable, or None."""
    defs = root.get("$defs") or {}
    for name, check in _CHECKS.items():
        definition = defs.get(name)
        if isinstance(definition, dict) and definition.get("pattern") == pattern:
            return check(value)
    return None
