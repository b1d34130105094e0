"""Event JSON Schemas: load, compile once (fastjsonschema), and derive the known fields.

Events are validated in their JSON form (Decimal as a number, timestamps as ISO text): the
schema describes what consumers of the JSON see.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Callable, Dict, Optional, Tuple

import fastjsonschema
import orjson

from engine.errors import ConfigError
from engine.operators.fields import Fields
from engine.resources import find_schema_file

_JSON_TO_ENGINE = {"integer": "int", "number": "float", "boolean": "bool", "string": "str",
                   "object": "json", "array": "json"}


def _default(value):
    from decimal import Decimal

    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def as_json(event: dict) -> dict:
    return orjson.loads(orjson.dumps(event, default=_default))


@lru_cache(maxsize=64)
def _load(path: str) -> Tuple[Callable, Dict[str, str]]:
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
    return validate, _fields_of(schema)


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
        self._validate, declared = _load(path)
        self.fields: Fields = declared or None

    def violation(self, event: dict) -> Optional[str]:
        """None when ``event`` is valid, else the reason, naming the offending field."""
        try:
            self._validate(as_json(event))
        except fastjsonschema.JsonSchemaValueException as exc:
            return f"schema violation ({self.path}): {exc.message}"
        return None
