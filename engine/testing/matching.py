"""Compare a value written in a test file with a value of the flow, and say how they differ.

YAML has no decimals or timestamps, events do: ``12.5`` matches ``Decimal('12.500')`` and
``"2026-11-25T07:00:00Z"`` matches that UTC ``datetime`` (and a date its ISO text). Booleans
never match numbers. Fields starting with ``_`` (``_key``, ``_meta``) are metadata: an
exact event compares them only when the expected event names them.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, List, Optional

MAX_SHOWN = 200  # characters of one value in a message
# control characters (C0, DEL, C1), line separators and lone surrogates: an event's text or an
# engine message quoting it never moves the terminal's cursor, and a report can always be encoded
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: str, lines: bool = False) -> str:
    """``text`` with each character of ``_UNSHOWN`` as its escape (``\\n``, ``\\u001b``); with
    ``lines``, line ends are kept (a run's multi-line error)."""
    return _UNSHOWN.sub(lambda m: m.group(0) if lines and m.group(0) == "\n" else json.dumps(m.group(0))[1:-1],
                        text)


def same(expected: Any, actual: Any, subset: bool = False) -> bool:
    """Whether ``actual`` is ``expected``; with ``subset``, mappings need only the expected keys."""
    return not differences(expected, actual, subset)


def differences(expected: Any, actual: Any, subset: bool = False, path: str = "") -> List[str]:
    """One line per difference, each naming the field (``after.status``, ``items[2]``)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [_line(path, expected, actual)]
        out: List[str] = []
        for key, value in expected.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{where}: expected {show(value)}, missing")
            else:
                out += differences(value, actual[key], subset, where)
        if not subset:
            out += [f"{path + '.' if path else ''}{key}: not expected, got {show(actual[key])}"
                    for key in actual if key not in expected and not (not path and str(key).startswith("_"))]
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [_line(path, expected, actual)]
        pairs = enumerate(zip(expected, actual, strict=True))
        return [d for i, (e, a) in pairs for d in differences(e, a, subset, f"{path}[{i}]")]
    return [] if _scalar_same(expected, actual) else [_line(path, expected, actual)]


def _line(path: str, expected: Any, actual: Any) -> str:
    return f"{path or 'value'}: expected {show(expected)}, got {show(actual)}"


def _scalar_same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None or isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or (type(expected) is bool and type(actual) is bool and expected == actual)
    if isinstance(expected, (int, float, Decimal)):
        return isinstance(actual, (int, float, Decimal)) and _number(expected) == _number(actual)
    if isinstance(expected, str):
        if isinstance(actual, str):
            return expected == actual
        if isinstance(actual, Decimal):
            return _number_text(expected) == actual
        if isinstance(actual, (datetime, date)):
            return _time(expected, actual) == actual
        return False
    if isinstance(expected, (datetime, date)) and isinstance(actual, str):
        # an unquoted YAML timestamp or date: an input written the same way reaches the flow as its
        # ISO text, so before a cast the event holds text meaning that instant (or that day)
        return _time(actual, expected) == _utc(expected)
    if isinstance(expected, (datetime, date)) and isinstance(actual, (datetime, date)):
        return _utc(expected) == _utc(actual)
    return bool(expected == actual)


def _number(value: Any) -> Decimal:
    try:
        return value if isinstance(value, Decimal) else Decimal(repr(float(value)) if isinstance(value, float)
                                                              else int(value))
    except (InvalidOperation, ValueError, OverflowError):
        return Decimal("NaN")


def _number_text(text: str) -> Optional[Decimal]:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _time(text: str, like: Any) -> Any:
    try:
        if isinstance(like, datetime):
            return _utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))
        return date.fromisoformat(text)
    except ValueError:
        return None


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value


def show(value: Any) -> str:
    """A value as a reader expects it: JSON-like, decimals with their digits, times in ISO."""
    text = _show(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str):
        return '"' + printable(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{printable(str(k))}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bytes):
        return _show(value.decode("utf-8", "replace"))
    return repr(value)
