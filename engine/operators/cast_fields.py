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
