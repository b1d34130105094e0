"""Event JSON Schemas: load, compile once (fastjsonschema), and derive the known fields.

Events are validated in their JSON form (Decimal as a number, timestamps as ISO text): the
schema describes what consumers of the JSON see. ``schema_view`` converts an event only as deep
as its schema looks.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Callable, Dict, Optional, Tuple

import fastjsonschema

from engine.errors import ConfigError
from engine.operators.dead import describe
from engine.operators.fields import Fields
from engine.operators.schema_view import View, compile_view
from engine.resources import find_schema_file

_JSON_TO_ENGINE = {"integer": "int", "number": "float", "boolean": "bool", "string": "str",
                   "object": "json", "array": "json"}


@lru_cache(maxsize=64)
def _load(path: str) -> Tuple[Callable, View, Dict[str, str]]:
    try:
        with open(find_schema_file(path), encoding="utf-8") as handle:
            schema = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read schema file '{path}': {exc.strerror}", ("schema",),
                          hint="check the path; it is relative to the working directory") from None
    except ValueError as exc:
        raise ConfigError(f"schema file '{path}' is not valid JSON: {exc}", ("schema",)) from None
    try:
        validate = fastjsonschema.compile(schema)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise ConfigError(f"schema file '{path}' is not a valid JSON Schema: {exc}", ("schema",)) from None
    return validate, compile_view(schema), _fields_of(schema)


def _fields_of(schema: dict) -> Dict[str, str]:
    fields = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        kinds = [k for k in ([kind] if isinstance(kind, str) else kind or []) if k != "null"]
        fields[name] = _JSON_TO_ENGINE.get(kinds[0], "any") if len(kinds) == 1 else "any"
    return fields


class EventSchema:
    """A compiled event schema and the fields it declares."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._validate, self._view, declared = _load(path)
        self.fields: Fields = declared or None

    def violation(self, event: dict) -> Optional[str]:
        """None when ``event`` is valid, else the reason, naming the offending field."""
        try:
            self._validate(self._view(event))
        except fastjsonschema.JsonSchemaValueException as exc:
            return f"schema violation ({self.path}): {exc.message}"
        except Exception as exc:  # noqa: BLE001 - an event the validator cannot take is that event's failure
            return f"cannot be validated against {self.path}: {describe(exc)}"
        return None
