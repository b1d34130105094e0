"""An event as a JSON Schema sees it, converted only as deep as the schema looks.

Schemas describe the JSON that consumers read, so validation needs that form: a Decimal as a
number, a datetime as ISO text. Converting the whole event (orjson dumps + loads) costs as
much as encoding it for the sink, yet most schemas only check the *type* of nested rows
(``"before": {"type": ["object", "null"]}``). ``compile_view(schema)`` returns a converter that
walks into a value only where the schema has keywords that look inside it, and gives every
value it does reach exactly what the full round trip would: the validator sees the same thing
in every part it inspects.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

# orjson is imported at the first round trip, not with this module: `validate` loads schemas
# but converts no event, and orjson's import brings dataclasses, inspect and uuid (~50M
# instructions of a first validate). _default and _exact_ints run only inside a round trip.
orjson: Any = None
_default: Any = None  # engine/json_default.json_default, imported with orjson

View = Callable[[Any], Any]

# Keywords that, on an object or array, look at no more than its type, size or keys; the
# scalar ones (format, minimum, pattern...) see scalars, which are always converted.
_BLIND_TO_CONTENT = {
    "type", "required", "minItems", "maxItems", "minProperties", "maxProperties",
    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern",
    "description", "title", "$comment", "examples", "default", "deprecated", "readOnly",
    "writeOnly", "$id", "$schema", "$anchor", "$defs", "definitions",
}
_WALKED = {"properties", "items", "additionalProperties"}
_NATIVE_SCALARS = frozenset({str, int, bool, type(None)})  # floats too, when finite (JSON has no NaN)
_PLAIN = _NATIVE_SCALARS | {dict, list}  # what a view gives back as it is, unless it looks inside


def round_trip(value: Any) -> Any:
    """``value`` as JSON gives it back (the reference the views must agree with); integers
    beyond 64 bits, which orjson does not write, stay exact integers."""
    json = orjson or _import_orjson()
    try:
        return json.loads(json.dumps(value, default=_default))
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
    from engine import jsontext
    return jsontext.exact(json.dumps(_exact_ints(value), default=_default))  # the json module: exact ints


def _import_orjson() -> Any:
    global orjson, _default
    import orjson as module

    # what the JSON sinks write for a value orjson does not take: a schema checks the text consumers
    # read (Debezium's NaN of a float column "NaN", an infinite date "infinity", a duration its text)
    from engine.json_default import json_default

    orjson, _default = module, json_default
    return module


def _exact_ints(value: Any) -> Any:
    """A copy of ``value`` whose integers beyond 64 bits are JSON fragments of their digits."""
    kind = type(value)
    if kind is int and not -(2 ** 63) <= value < 2 ** 64:
        return orjson.Fragment(str(value))
    if kind is dict:
        return {k: _exact_ints(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_exact_ints(v) for v in value]
    return value


def compile_view(schema: Any) -> View:
    """The converter for values checked by ``schema`` (a JSON Schema, or True/False)."""
    if not isinstance(schema, dict):
        return _scalars_only
    keywords = set(schema)
    if not keywords <= _BLIND_TO_CONTENT | _WALKED or not _walkable(schema):
        return _whole  # enum, const, allOf, $ref, ...: they may compare whole values
    properties = {name: compile_view(sub) for name, sub in (schema.get("properties") or {}).items()}
    extra = schema.get("additionalProperties")
    other = compile_view(extra) if isinstance(extra, dict) else None
    items = compile_view(schema["items"]) if isinstance(schema.get("items"), dict) else None
    if not properties and other is None and items is None:
        return _scalars_only

    # the properties whose view may change a container (the others look at a value's type only)
    deep = tuple((name, sub) for name, sub in properties.items() if sub is not _scalars_only) if other is None else None

    def view(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            if deep is not None and set(map(type, value.values())) <= _PLAIN:  # the usual event: one C loop
                return _seen(value, deep, value.get, dict)  # only these properties look inside
            return _object_view(value, properties, other)
        if kind is list:
            if items is None or set(map(type, value)) <= _NATIVE_SCALARS:  # e.g. a list of names: one C loop
                return value
            return _seen(value, zip(range(len(value)), repeat(items)), value.__getitem__, list)
        return _scalar(value)

    return view


def _walkable(schema: dict) -> bool:
    properties, items = schema.get("properties"), schema.get("items")
    return ((properties is None or isinstance(properties, dict))
            and (items is None or isinstance(items, (dict, bool))))


def _scalars_only(value: Any) -> Any:
    kind = type(value)
    if kind is dict or kind is list:
        return value  # the schema looks at a container's type or size at most
    return _scalar(value)


def _whole(value: Any) -> Any:
    kind = type(value)
    return round_trip(value) if kind is dict or kind is list else _scalar(value)


def _scalar(value: Any) -> Any:
    kind = type(value)
    if kind in _NATIVE_SCALARS or (kind is float and value - value == 0):  # NaN, inf: not 0
        return value
    return round_trip(value)


def _object_view(value: dict, properties: Dict[str, View], other: Optional[View]) -> dict:
    get = properties.get
    return _seen(value, [(key, get(key, other)) for key in value], value.get, dict)


def _seen(value: Any, views: Iterable[Tuple[Any, Optional[View]]], get: Callable, copy: Callable) -> Any:
    """``value`` with the item at each key of ``views`` (``get(key)``) seen through that view
    (None: not looked at), copied on the first change: the event itself stays as it is."""
    out = value
    for key, view in views:
        item = get(key)
        kind = type(item)
        if kind in _NATIVE_SCALARS or view is None or (view is _scalars_only and (kind is dict or kind is list)):
            continue  # every view gives a native scalar back as it is (an absent property: None)
        seen = view(item)
        if seen is not item:
            if out is value:
                out = copy(value)
            out[key] = seen
    return out
