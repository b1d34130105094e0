"""The ``fields`` casts of a ``debezium`` step: schemaless values read with the connector's
hints (``decimal`` and ``time`` modes), as Debezium encodes them without a schema."""

from __future__ import annotations

from typing import Callable

from engine.operators.debezium_types import decimal_bytes, epoch, epoch_days, variable_scale_decimal, zoned_timestamp
from engine.values import converter as value_converter
from engine.values import decimal_converter


def hinted_converter(type_name: str, decimal_mode: str, time_mode: str) -> Callable:
    """A ``fields`` cast that also reads Debezium's encodings of schemaless values:
    ``decimal(p,s)`` reads base64 unscaled bytes with scale ``s`` (mode precise) or
    ``{scale, value}``; ``timestamp`` reads epoch numbers (microseconds, milliseconds with
    ``time: connect``); ``date`` reads days since the epoch. Anything else is the plain cast."""
    plain = value_converter(type_name)
    if type_name.startswith("decimal("):
        precision, scale = (int(p) for p in type_name[8:-1].split(","))
        fit = decimal_converter(precision, scale)
        from_bytes = decimal_bytes(scale)

        def to_decimal(value):
            if type(value) is dict:
                return fit(variable_scale_decimal(value))
            if type(value) is str and decimal_mode == "precise":
                return fit(from_bytes(value))
            return fit(value)

        return to_decimal
    if type_name == "timestamp":
        from_epoch = epoch(1_000 if time_mode == "connect" else 1_000_000, True)

        def to_timestamp(value):
            if type(value) is int:
                return from_epoch(value)
            return zoned_timestamp(value)

        return to_timestamp
    if type_name == "date":
        def to_date(value):
            if type(value) is int:
                return epoch_days(value)
            return plain(value)

        return to_date
    return plain
