"""The ``fields`` option of ``cast``: shared by plain casts and Debezium decoding."""

from __future__ import annotations

from typing import Tuple

from engine.errors import ConfigError
from engine.values import field_type


def parse_casts(fields: dict, make_converter) -> Tuple[list, dict]:
    """``(path, type name, converter)`` per cast field, and the engine types of the top-level ones."""
    casts, top_level = [], {}
    for name, type_name in fields.items():
        try:
            convert = make_converter(type_name)
        except ValueError as exc:
            raise ConfigError(str(exc), ("fields", name)) from None
        path = tuple(name.split("."))
        casts.append((path, type_name, convert))
        if len(path) == 1:
            top_level[name] = field_type(type_name)
    return casts, top_level


def shown(value, width: int = 80) -> str:
    """``value`` in a failure's reason: its repr cut to ``width`` characters (a long text is
    cut before its repr is made; an integer too long for a repr is described instead)."""
    if type(value) in (str, bytes) and len(value) > width:
        value = value[:width]
    elif type(value) is int and value.bit_length() > 1024:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        return f"{value!r:.{width}}"
    except Exception:  # noqa: BLE001 - a repr that fails must not hide the reason
        return f"<{type(value).__name__}>"
