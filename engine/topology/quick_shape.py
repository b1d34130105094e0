"""Whether a document fits the topology JSON Schema, without jsonschema: a yes, or "ask
jsonschema" (engine/topology/schema.py then finds and explains the problems).

Importing jsonschema and its referencing stack cost more than validating, and most documents
are valid. Only the keywords the topology schema uses are known here, each as jsonschema's
Draft 2020-12 validator reads it (``pattern`` as schema.py's ECMA-262 reading); any other
keyword, a ``$ref`` outside ``#/$defs/``, or an ``enum``/``const`` over lists or mappings
raises ``Unknown``, and the caller asks jsonschema.
"""

from __future__ import annotations

import numbers
import re
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from engine.topology.ranges import out_of_range

# annotations: no effect on validity (formats are not asserted: no format checker is given)
_IGNORED = frozenset(("$schema", "$defs", "$comment", "title", "description", "default", "examples",
                      "deprecated", "readOnly", "writeOnly", "format"))


class Unknown(Exception):
    """A schema or a value this module does not judge: ask jsonschema."""


@lru_cache(maxsize=64)
def compiled(pattern: str) -> "re.Pattern":
    """``pattern`` as ECMA-262 (what editors run) reads it: ``$`` is the very end of the text,
    so a name with a trailing newline does not match ``^[A-Za-z_]...$`` (Python's ``$`` would)."""
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", pattern))


def conforms(instance: Any, root: Dict[str, Any]) -> bool:
    """True when ``instance`` is valid against ``root`` (jsonschema would report nothing),
    False when it is not; raises ``Unknown`` (see the module's text)."""
    return _valid(instance, root, root)


# While ``unchanged_data()`` lasts: (id(mapping or list), id(schema)) -> (the two), for each
# pair found valid; they are held, so no id is reused meanwhile.
_valid_before: Optional[Dict[Tuple[int, int], Tuple[Any, Any]]] = None


@contextmanager
def unchanged_data() -> Iterator[None]:
    """The documents checked meanwhile are not changed: a mapping or list found valid against a
    schema is valid again (the environments of a file share the base's unchanged parts, and
    validate checks the base and every environment)."""
    global _valid_before
    outer, _valid_before = _valid_before, {} if _valid_before is None else _valid_before
    try:
        yield
    finally:
        _valid_before = outer


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


_TYPES: Dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _number,
    "integer": lambda v: not isinstance(v, bool) and (isinstance(v, int) or isinstance(v, float) and v.is_integer()),
}


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's ``equal`` for scalars: True and 1 differ."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, (list, tuple, dict)) or isinstance(two, (list, tuple, dict)):
        raise Unknown("enum or const over a list or a mapping")
    if one is True or one is False or two is True or two is False:
        return False
    return bool(one == two)


def _valid(value: Any, schema: Any, root: Dict[str, Any]) -> bool:
    if schema is True or schema is False:
        return schema
    if not isinstance(schema, dict):
        raise Unknown("a schema that is not a mapping")
    known = _valid_before
    if known is not None and (value.__class__ is dict or value.__class__ is list):
        if (id(value), id(schema)) in known:
            return True
        if not _checked(value, schema, root):
            return False
        known[id(value), id(schema)] = (value, schema)
        return True
    return _checked(value, schema, root)


def _checked(value: Any, schema: dict, root: Dict[str, Any]) -> bool:
    for keyword, arg in schema.items():
        if keyword in _IGNORED or keyword == "$id" and schema is root:  # a nested $id would move "#/$defs/"
            continue
        check = _KEYWORDS.get(keyword)
        if check is None:
            raise Unknown(keyword)
        if not check(value, arg, schema, root):
            return False
    return True


def _type(value: Any, arg: Any, schema: dict, root: dict) -> bool:
    names = [arg] if isinstance(arg, str) else arg
    if any(name not in _TYPES for name in names):
        raise Unknown(f"type {arg}")
    return any(_TYPES[name](value) for name in names)


def _ref(value: Any, arg: Any, schema: dict, root: dict) -> bool:
    if not isinstance(arg, str) or not arg.startswith("#/$defs/") or arg[8:] not in root.get("$defs", {}):
        raise Unknown(f"$ref {arg}")
    return _valid(value, root["$defs"][arg[8:]], root)


def _properties(value: Any, arg: Any, schema: dict, root: dict) -> bool:
    return not isinstance(value, dict) or all(_valid(value[k], sub, root) for k, sub in arg.items() if k in value)


def _additional(value: Any, arg: Any, schema: dict, root: dict) -> bool:
    if not isinstance(value, dict):
        return True
    if "patternProperties" in schema:
        raise Unknown("patternProperties")
    known = schema.get("properties", {})
    return all(_valid(item, arg, root) for key, item in value.items() if key not in known)


def _items(value: Any, arg: Any, schema: dict, root: dict) -> bool:
    if "prefixItems" in schema:
        raise Unknown("prefixItems")
    return not isinstance(value, list) or all(_valid(item, arg, root) for item in value)


def _pattern(value: Any, arg: Any, schema: dict, root: dict) -> bool:
    return not isinstance(value, str) or compiled(arg).search(value) is not None and not out_of_range(arg, value, root)


_KEYWORDS: Dict[str, Callable[[Any, Any, dict, dict], bool]] = {
    "type": _type,
    "$ref": _ref,
    "properties": _properties,
    "additionalProperties": _additional,
    "items": _items,
    "pattern": _pattern,
    "required": lambda v, arg, s, r: not isinstance(v, dict) or all(k in v for k in arg),
    "propertyNames": lambda v, arg, s, r: not isinstance(v, dict) or all(_valid(k, arg, r) for k in v),
    "minProperties": lambda v, arg, s, r: not isinstance(v, dict) or len(v) >= arg,
    "minItems": lambda v, arg, s, r: not isinstance(v, list) or len(v) >= arg,
    "minLength": lambda v, arg, s, r: not isinstance(v, str) or len(v) >= arg,
    "minimum": lambda v, arg, s, r: not _number(v) or not v < arg,
    "enum": lambda v, arg, s, r: any(_equal(each, v) for each in arg),
    "const": lambda v, arg, s, r: _equal(v, arg),
    "oneOf": lambda v, arg, s, r: sum(1 for sub in arg if _valid(v, sub, r)) == 1,
    "anyOf": lambda v, arg, s, r: any(_valid(v, sub, r) for sub in arg),
}
