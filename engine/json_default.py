"""What a JSON writer of the engine writes for a value orjson does not take, in one place.

The sinks' encoders (engine/connectors/jsonl.py, the table sinks' row encoders) hand orjson this
``default``; the JSON-schema check converts an event the same way (engine/operators/schema_view.py),
so a schema checks the text consumers read: an exact decimal as its digits, Debezium's NaN of a
float column as ``"NaN"``, an infinite timestamp as ``"infinity"``, a duration as its text.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import Any

import orjson

from engine.values import NonFiniteFloat


def json_default(value: Any) -> Any:
    """Types orjson does not know: exact decimals, sets (as lists), anything else as text."""
    if isinstance(value, Decimal):
        if value.is_finite():
            return orjson.Fragment(str(value))
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (date, time)):  # a subclass orjson leaves to us: ISO 8601 as orjson writes, not str's space
        return value.isoformat()
    if isinstance(value, float):  # a subclass: the number, not its text; a NonFiniteFloat as Debezium sent it
        return value.json_text() if type(value) is NonFiniteFloat else float(value)
    return str(value)
