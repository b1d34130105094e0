"""Check a topology's shape against the topology JSON Schema (derived from engine/catalog), in plain words.

jsonschema finds the problems; this module turns each into one message a person can act on
("unknown operator 'fliter'; did you mean 'filter'?"), located at the offending key or value.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Tuple, cast

from engine.catalog import generation
from engine.catalog.topology_schema import topology_schema as build_schema
from engine.hints import did_you_mean
from engine.topology.loader import NodePath
from engine.topology.quick_shape import Unknown, compiled, conforms
from engine.topology.ranges import out_of_range

if TYPE_CHECKING:  # imported when a document needs explaining (~35-70 ms, with referencing)
    import jsonschema
    from jsonschema.exceptions import ValidationError

OPERATOR_KEYS_EXCLUDED = ("id", "from", "description")

_JSON_TYPES = {
    "string": "a string", "integer": "an integer", "number": "a number",
    "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null",
}


def _type_name(value: Any) -> str:
    for name, kind in (("true or false", bool), ("an integer", int), ("a number", float),
                       ("a string", str), ("a mapping", dict), ("a list", list)):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def topology_schema() -> dict:
    """The format as the declared components make it (engine/catalog); not to be changed."""
    return _schema(generation())


@lru_cache(maxsize=4)
def _schema(_generation: int) -> dict:
    return build_schema()


def _whole_pattern(validator, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``pattern`` as ECMA-262 reads it (quick_shape.compiled); a match out of range (ranges.py) fails too."""
    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and (not compiled(pattern).search(instance)
                                      or out_of_range(pattern, instance, topology_schema())):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _validator() -> jsonschema.Draft202012Validator:
    return _validator_of(generation())


@lru_cache(maxsize=4)
def _validator_of(_generation: int) -> jsonschema.Draft202012Validator:
    import jsonschema

    strict = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _whole_pattern})
    return strict(topology_schema())


class ShapeProblem:
    """A schema problem at a node path: message, hint, and whether it points at the key."""

    def __init__(self, path: NodePath, message: str, hint: Optional[str] = None, at_key: bool = False):
        self.path, self.message, self.hint, self.at_key = path, message, hint, at_key

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"ShapeProblem({self.path}, {self.message!r})"


def check_shape(data: Any) -> List[ShapeProblem]:
    """Every shape problem of the document, each reported once, in document order."""
    try:
        if conforms(data, topology_schema()):  # most documents: jsonschema is not even imported
            return []
    except Unknown:
        pass
    problems: List[ShapeProblem] = []
    seen = set()
    for error in _validator().iter_errors(data):
        for problem in _translate(error):
            ident = (problem.path, problem.message)
            if ident not in seen:
                seen.add(ident)
                problems.append(problem)
    # "step #1 must be a mapping, not an integer" already says why it has no operator
    mistyped = {p.path for p in problems if p.message.startswith(f"{_what(p.path)} must be ") and ", not " in p.message}
    problems = [p for p in problems if p.path not in mistyped or p.message.startswith(f"{_what(p.path)} must be ")]
    # "unknown operator 'fliter'" already says why the step has no operator
    unknown_at = {p.path[:-1] for p in problems if p.message.startswith("unknown ")}
    problems = [p for p in problems if not (p.path in unknown_at and " has no " in p.message)]
    # "unknown option 'pth'; did you mean 'path'?" already says why 'path' is missing
    misspelt = {(p.path[:-1], p.hint) for p in problems if p.message.startswith("unknown ") and p.hint}
    return [p for p in problems if not _misspelt_required(p, misspelt)]


def _misspelt_required(problem: ShapeProblem, misspelt: set) -> bool:
    name = problem.message.rpartition("missing required option ")[2]
    return " is missing required option '" in problem.message and (problem.path, f"did you mean {name}?") in misspelt


def _translate(error: ValidationError) -> Iterator[ShapeProblem]:
    path = tuple(error.absolute_path)
    handler = _HANDLERS.get(error.validator, _generic)
    yield from handler(error, path)


def _what(path: NodePath) -> str:
    """A short name for the thing at ``path``, for messages."""
    if not path:
        return "the topology"
    if path[0] == "steps" and len(path) >= 2:
        return f"step #{cast(int, path[1]) + 1}" if len(path) == 2 else f"'{path[-1]}'"
    return f"'{path[-1]}'"


def _additional(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    allowed = list(error.schema.get("properties", {}))
    for key in error.instance:
        if key in allowed:
            continue
        kind, choices = _key_kind(path, allowed)
        hint = did_you_mean(key, choices)
        if kind == "operator" and hint in [f"did you mean '{k}'?" for k in OPERATOR_KEYS_EXCLUDED]:
            kind = "option"  # 'idd', 'form': a misspelt 'id' or 'from', not an operator
        yield ShapeProblem((*path, key), f"unknown {kind} '{key}'", hint or _listing(choices), at_key=True)


def _key_kind(path: NodePath, allowed: List[str]) -> Tuple[str, List[str]]:
    if len(path) == 2 and path[0] == "steps":
        return "operator", [k for k in allowed if k not in OPERATOR_KEYS_EXCLUDED] + list(OPERATOR_KEYS_EXCLUDED)
    if len(path) == 2 and path[0] in ("sources", "sinks") or path == ("dead_letter",):
        return "connector or option", allowed
    if not path:
        return "top-level key", allowed
    return "option", allowed


def _listing(choices: List[str]) -> str:
    return "expected one of: " + ", ".join(sorted(choices))


def _one_of(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    required_only = all(set(sub) == {"required"} for sub in error.schema["oneOf"])
    if not required_only:  # a value with alternative shapes, like `from`
        yield from _best_of(error, path)
        return
    choices = [sub["required"][0] for sub in error.schema["oneOf"]]
    present = [k for k in choices if isinstance(error.instance, dict) and k in error.instance]
    noun = "operator" if path and path[0] == "steps" else "connector"
    where = _owner(path, error.instance)
    if len(path) == 3 - (path[:1] == ("dead_letter",)):  # inside a connector: options, like duckdb's table/tables
        if not present:
            yield ShapeProblem(path, f"{where} needs one of the options {' or '.join(choices)}",
                               "add one of: " + ", ".join(choices), at_key=True)
        else:
            yield ShapeProblem((*path, present[1]), f"{where} takes only one of the options {', '.join(present)}",
                               "remove all but one", at_key=True)
        return
    if not present:
        yield ShapeProblem(path, f"{where} has no {noun}", "add one of: " + ", ".join(choices), at_key=True)
    else:
        yield ShapeProblem(
            (*path, present[1]),
            f"{where} has more than one {noun} ({', '.join(present)})",
            f"a {'step' if noun == 'operator' else 'source or sink'} takes exactly one; split it",
            at_key=True,
        )


def _owner(path: NodePath, instance: Any) -> str:
    if path and path[0] == "steps" and isinstance(instance, dict) and isinstance(instance.get("id"), str):
        return f"step '{instance['id']}'"
    if len(path) == 2 and path[0] == "steps":  # a step without a (text) id: its place in the list
        return f"step #{cast(int, path[1]) + 1}"
    if path[:1] == ("dead_letter",):  # dead_letter: {file: {...}}: one sink, no name
        return f"the dead-letter {path[1]} sink" if len(path) == 2 else _what(path)
    if len(path) == 2:
        return f"{str(path[0])[:-1]} '{path[1]}'"
    if len(path) == 3 and path[0] in ("sources", "sinks"):
        return f"{path[2]} {path[0][:-1]} '{path[1]}'"
    return "dead_letter" if path == ("dead_letter",) else _what(path)


def _best_of(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    if path and path[-1] == "from" or (len(path) >= 2 and path[-2] == "from"):
        if isinstance(error.instance, str):
            yield ShapeProblem(path, f"invalid reference '{_shown(error.instance)}'",
                               "write a source name, a step id, or step.output")
            return
        yield ShapeProblem(path, f"'from' must be a name or a list of names, not {_type_name(error.instance)}")
        return
    from jsonschema.exceptions import best_match

    best = best_match(error.context) if error.context else None
    if best is not None:
        yield from _translate(best)
    else:  # pragma: no cover
        yield from _generic(error, path)


def _required(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    missing = re.findall(r"'([^']+)' is a required property", error.message)
    for name in missing:
        yield ShapeProblem(path, f"{_owner(path, error.instance)} is missing required option '{name}'", at_key=True)


def _type(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    expected = error.validator_value
    expected = [expected] if isinstance(expected, str) else expected
    words = " or ".join(_JSON_TYPES.get(t, t) for t in expected)
    yield ShapeProblem(path, f"{_what(path)} must be {words}, not {_type_name(error.instance)}")


def _enum(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    options = error.validator_value if error.validator == "enum" else [error.validator_value]
    shown = ", ".join(json.dumps(o) for o in options)
    yield ShapeProblem(path, f"{_what(path)} must be one of {shown}, not {json.dumps(error.instance)}",
                       did_you_mean(str(error.instance), [str(o) for o in options]))


_PATTERN_MESSAGES = {
    "duration": ("invalid duration '{v}'", "write a number and a unit: 500ms, 5s, 2m, 1h or 1d"),
    "castType": ("unknown type '{v}'", None),
    "columnType": ("unknown column type '{v}'", None),
    "ref": ("invalid reference '{v}'", "write a source name, a step id, or step.output"),
}
_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
_TYPE_NAMES = ["int", "float", "bool", "str", "date", "json", "timestamp", "timestamp(ms)", "decimal(10,2)"]


def _pattern(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    value = _shown(error.instance)
    definition = _definition_name(error.schema)
    if "propertyNames" in error.schema_path:  # a mapping key: the name of a source, sink, output...
        path = (*path, error.instance)
    reason = isinstance(error.instance, str) and out_of_range(error.validator_value, error.instance, topology_schema())
    if reason and "propertyNames" not in error.schema_path:
        yield ShapeProblem(path, *reason)
        return
    if definition in _PATTERN_MESSAGES and "propertyNames" not in error.schema_path:
        message, hint = _PATTERN_MESSAGES[definition]
        if definition in ("castType", "columnType"):
            hint = did_you_mean(error.instance, _TYPE_NAMES) or "types: " + ", ".join(_TYPE_NAMES)
        yield ShapeProblem(path, message.format(v=value), hint)
        return
    if error.validator_value == _ID_PATTERN:
        yield ShapeProblem(path, f"invalid name '{value}'",
                           "names start with a letter or '_' and hold letters, digits, '_' and '-'",
                           at_key="propertyNames" in error.schema_path)
        return
    yield ShapeProblem(path, f"{_what(path)} '{value}' does not match {error.validator_value}")


def _shown(value: Any) -> str:
    """A value in a message: control characters (a trailing newline) escaped, so it stays one line."""
    text = str(value)
    return json.dumps(text, ensure_ascii=False)[1:-1] if any(c < " " or c == "\x7f" for c in text) else text


def _definition_name(schema: dict) -> Optional[str]:
    defs = topology_schema()["$defs"]
    for name, definition in defs.items():
        if definition.get("pattern") == schema.get("pattern"):
            return name
    return None


def _too_small(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    if error.validator == "minProperties" and error.validator_value > 1:
        yield from _one_of_minimum(error, path)
        return
    if error.validator in ("minItems", "minProperties") and error.validator_value > 1 and error.instance:
        things = "items" if error.validator == "minItems" else "entries"
        yield ShapeProblem(path, f"{_what(path)} needs at least {error.validator_value} {things}, "
                                 f"not {len(error.instance)}")
        return
    yield ShapeProblem(path, f"{_what(path)} must not be empty")


def _one_of_minimum(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    return iter(())  # a step with only an id: the oneOf rule reports the missing operator


def _property_names(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    key = error.instance
    yield ShapeProblem((*path, key), f"invalid name '{key}'",
                       "names start with a letter or '_' and hold letters, digits, '_' and '-'", at_key=True)


def _minimum(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    yield ShapeProblem(path, f"{_what(path)} must be at least {error.validator_value}, not {error.instance}")


def _generic(error: ValidationError, path: NodePath) -> Iterator[ShapeProblem]:
    yield ShapeProblem(path, error.message)


_HANDLERS = {
    "additionalProperties": _additional,
    "oneOf": _one_of,
    "required": _required,
    "type": _type,
    "enum": _enum,
    "const": _enum,
    "pattern": _pattern,
    "minProperties": _too_small,
    "minItems": _too_small,
    "minLength": _too_small,
    "propertyNames": _property_names,
    "minimum": _minimum,
}
