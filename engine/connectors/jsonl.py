"""One JSON encoding of events shared by every sink that writes JSON (files, stdout, DuckDB json).

orjson is used because it is several times faster than ``json`` and writes ``datetime`` and
``date`` as ISO 8601 natively. Decimals are written as JSON *numbers* with their exact digits
(``orjson.Fragment``), so ``Decimal("12.30")`` stays ``12.30`` instead of going through float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
_LINE_OPTIONS = _OPTIONS | orjson.OPT_APPEND_NEWLINE


def _default(value: Any) -> Any:
    """Types orjson does not know: exact decimals, sets (as lists), anything else as text."""
    if isinstance(value, Decimal):
        if value.is_finite():
            return orjson.Fragment(str(value))
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def encode_value(value: Any) -> bytes:
    """Compact JSON of one value, no newline."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def encode_event(event: Any) -> bytes:
    """Compact JSON of one event followed by a newline (one JSON Lines record)."""
    return orjson.dumps(event, default=_default, option=_LINE_OPTIONS)


def encode_batch(events) -> bytes:
    """JSON Lines of a whole batch, joined once so the writer does one ``write`` per batch."""
    return b"".join([orjson.dumps(e, default=_default, option=_LINE_OPTIONS) for e in events])
