"""A schema's quick yes: one Python function generated per event schema that tells, in one
pass over the event as it is, that the event is valid.

Validating an event takes two passes: ``schema_view`` gives the JSON form of what the schema
looks at, then fastjsonschema's code checks it and explains the first violation. Most events
are valid and made of plain values (str, int, bool, None, finite floats, dicts, lists), where
the view changes nothing. ``compile_accept(schema)`` returns ``accept(event) -> bool``, True
only when the event is valid *and* every value the schema looks at is such a plain value, so
that the view would give it back as it is and fastjsonschema would accept it: then the event
is valid without either pass (an aware UTC ``datetime`` counts as a plain ``date-time`` string:
JSON's text of it always is one; so does a str subclass where an enum or a list of strings meets
it: its JSON text is the same string). False means "not sure": the caller takes the two passes, which
give every verdict and reason as before (a Decimal, a NaN, a tuple, a dict subclass, a
keyword this module does not know: all "not sure"). It may also raise instead of saying False (a
required property missing, an unhashable value where an enum is): callers take that as "not sure".

Only a subset of JSON Schema is generated, with fastjsonschema's meaning (2.22): ``type``,
``properties``, ``required``, ``items`` (one schema), ``enum`` and ``const`` (strings),
``format`` (the formats fastjsonschema checks by a regular expression, with its own
expressions), ``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/``maxItems``
and annotations. A subschema with any other keyword (``$ref``, ``anyOf``, ``pattern``,
``default``, which fastjsonschema writes into the event, ...) is "not sure" wherever a value
meets it (a property with a ``default``: wherever its object does, present or not);
``compile_accept`` returns None when the root itself is.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable, Dict, FrozenSet, List, Optional

from engine.code_cache import compiled

Accept = Callable[[Any], bool]

_ANNOTATIONS = {"description", "title", "$comment", "examples", "deprecated", "readOnly", "writeOnly"}
_ROOT_ONLY = {"$schema", "$id"}
_CHECKED = {"type", "properties", "required", "items", "enum", "const", "format", "minimum", "maximum",
            "minLength", "maxLength", "minItems", "maxItems"}
_FINITE = "({t} is float and {v} - {v} == 0)"  # NaN and infinities are not plain: the view converts them
_TYPES = {
    "string": "{t} is str", "integer": "{t} is int", "boolean": "{t} is bool", "null": "{v} is None",
    "object": "{t} is dict", "array": "{t} is list", "number": "({t} is int or " + _FINITE + ")",
    "moment": "{t} is str or {t} is _D and {v}.tzinfo is _U",
}
_EXACT = {"string": str, "integer": int, "boolean": bool, "null": type(None), "object": dict, "array": list}
_PLAIN = frozenset({str, int, bool, type(None), dict, list})
_STRING_WORDS = frozenset({"format", "minLength", "maxLength"})  # tested on values of type str only


class _Unsure(Exception):
    """A subschema this module does not generate: "not sure" wherever a value meets it."""


def compile_accept(schema: Any, formats: Optional[Dict[str, Any]] = None,
                   texts: Optional[Dict[str, FrozenSet[str]]] = None) -> Optional[Accept]:
    """``accept(event)`` for ``schema`` (as fastjsonschema compiled it, with its ``formats``:
    name -> regular expression, or a function of the text), or None when the schema's root is
    outside the subset. ``texts``: top-level property -> every text it can hold, when the events
    checked surely hold that property as one of them (a map's field of string literals): a
    property whose schema accepts each of them is not looked at (``accepts_texts``); such an
    ``accept`` is for those events only."""
    if not isinstance(schema, dict):
        return None
    generator = _Generator(formats or {}, texts or {})
    try:
        root = generator.node({k: v for k, v in schema.items() if k not in _ROOT_ONLY})
    except _Unsure:
        return None
    names: Dict[str, Any] = {"_M": _MISSING, "_P": _PLAIN, "_D": datetime, "_U": timezone.utc, "_J": "".join,
                             **_BUILTINS, **generator.constants}
    # every name a function reads is a parameter with its value as default: a local's read, not a global's
    # or a builtin's (~200 instructions an event of 3 rows); ``accept`` is called with the event alone
    defaults = ", ".join(f"{name}={name}" for name in names)
    source = _HEADER.sub(rf"\g<0>, {defaults}", "\n".join(generator.lines)) + "\n"
    exec(compiled(source, "<schema accept>", "exec"), names)  # noqa: S102 - code generated from the schema's keywords
    accept = names[root]
    accept.source = source  # type: ignore[attr-defined]  # to read in a test or a debugger
    return accept


_MISSING = object()
_BUILTINS = {f.__name__: f for f in (type, len, set, map, dict, list, str, int, float, bool)}
_INLINE_DEPTH = 6  # objects and lists written out this deep in a function; deeper ones: a call
_HEADER = re.compile(r"^def _n[0-9]+\(v(?=\):$)", re.MULTILINE)  # a generated function's header, up to ``v``
_USES_TYPE = re.compile(r"\bu\b")  # a test reading ``u``, the value's type (names here: x, u, _K1, ...)


class _Generator:
    def __init__(self, formats: Dict[str, Any], texts: Dict[str, FrozenSet[str]]) -> None:
        self.formats = formats
        self.texts = texts  # the root's known properties (read by the first ``inside``: the root's)
        self.lines: List[str] = []
        self.count = 0
        self.constants: Dict[str, Any] = {}

    def constant(self, value: Any) -> str:
        name = f"_K{len(self.constants)}"
        self.constants[name] = value
        return name

    def node(self, schema: Any) -> str:
        """The name of a generated function ``(value) -> bool`` for ``schema``."""
        name = f"_n{self.count}"
        self.count += 1
        body = [f"def {name}(v):"] + self.node_lines(schema, "v", "    ", 0) + ["    return True"]
        self.lines.append("\n".join(body))
        return name

    def node_lines(self, schema: Any, v: str, indent: str, depth: int) -> List[str]:
        """The statements that return False unless ``schema`` accepts ``v``, whatever it holds
        written out (names of their own at each ``depth``): a Python call per object or list
        met is ~300 instructions (~1,300 an event of 3 rows)."""
        t = f"t{depth}" if depth else "t"
        lines = [f"{indent}{t} = type({v})", f"{indent}if not {self.test(schema, v, t)}:", f"{indent}    return False"]
        if isinstance(schema, dict):
            lines += [indent + line for line in self.inside(schema, v, t, depth)]
        return lines

    def nested(self, schema: Any, v: str, indent: str, depth: int, missing: bool) -> List[str]:
        """``check``'s statements for a schema that looks inside ``v``: written out, or (deep
        down: CPython allows 20 nested loops) a call of its own function."""
        if depth >= _INLINE_DEPTH:
            test = f"{self.node(schema)}({v})"
            condition = f"{v} is not _M and not {test}" if missing else f"not {test}"
            return [f"{indent}if {condition}:", f"{indent}    return False"]
        if missing:
            return [f"{indent}if {v} is not _M:"] + self.node_lines(schema, v, indent + "    ", depth + 1)
        return self.node_lines(schema, v, indent, depth + 1)

    def check(self, schema: Any, v: str, indent: str, missing: bool = False, depth: int = 0) -> List[str]:
        """The statements that return False unless ``schema`` accepts ``v`` (or ``missing``:
        ``v`` is ``_M``, the property is absent)."""
        if missing and isinstance(schema, dict) and "default" in schema:  # fastjsonschema writes it in when
            return [f"{indent}return False"]  # absent: "not sure" wherever the object is met
        try:
            if isinstance(schema, dict) and "properties" in schema:
                return self.nested(schema, v, indent, depth, missing)
            else:
                test, typed = self.test(schema, v, "u"), True
                items = self.plain_items(schema.get("items")) if isinstance(schema, dict) else None
                if isinstance(schema, dict) and "items" in schema and items is None:
                    return self.nested(schema, v, indent, depth, missing)
                elif items is not None:
                    test = f"({test} and {self.guard(schema, 'u', 'list', items.format(v=v))})"
        except _Unsure:
            test, typed = "False", False
        condition = f"{v} is not _M and not {test}" if missing else f"not {test}"
        uses = len(_USES_TYPE.findall(test)) if typed else 0  # (an enum's test needs no type)
        if uses == 1:  # read once: ``type(x)`` in its place, no ``u`` stored and loaded
            condition = _USES_TYPE.sub(f"type({v})", condition)
        typing = [f"{indent}u = type({v})"] if uses > 1 else []
        return typing + [f"{indent}if {condition}:", f"{indent}    return False"]

    @staticmethod
    def single(schema: Any) -> Optional[str]:
        kinds = schema.get("type") if isinstance(schema, dict) else None
        return kinds if isinstance(kinds, str) else kinds[0] if isinstance(kinds, list) and len(kinds) == 1 else None

    def guard(self, schema: Any, t: str, kind: str, test: str) -> str:
        """``test``, for values of JSON type ``kind`` only (others pass it)."""
        if self.single(schema) == {"dict": "object", "list": "array", "str": "string"}[kind] and not \
                (kind == "str" and "format" in schema):  # a string with a format may also be a datetime
            return test  # the type test before it has made sure
        return f"({t} is not {kind} or {test})"

    def test(self, schema: Any, v: str, t: str) -> str:
        """The tests of ``schema``'s own keywords on ``v`` of type ``t`` (none of its children)."""
        if schema is True:
            return f"({t} in _P or {_FINITE.format(v=v, t=t)})"
        if not isinstance(schema, dict) or not set(schema) <= _CHECKED | _ANNOTATIONS:
            raise _Unsure
        tests = []
        kinds = schema.get("type")
        if kinds is not None:
            kinds = [kinds] if isinstance(kinds, str) else kinds
            if not isinstance(kinds, list) or not kinds or not all(k in _TYPES for k in kinds):
                raise _Unsure
            moment = "string" in kinds and schema.get("format", "date-time") == "date-time" and not \
                {"enum", "const", "minLength", "maxLength"} & set(schema)
            if moment:  # an aware UTC datetime: JSON's text of it is always a date-time (as sinks write it)
                kinds = ["moment" if k == "string" else k for k in kinds]
            kinds = sorted(kinds, key=lambda k: k != "null")  # null first: a null value needs no type
            tests.append("(" + " or ".join(_TYPES[k].format(v=v, t=t) for k in kinds) + ")")
        if "enum" in schema or "const" in schema:
            members = schema["enum"] if "enum" in schema else [schema["const"]]
            if not isinstance(members, list) or ("enum" in schema and "const" in schema):
                raise _Unsure
            strings = frozenset(m for m in members if type(m) is str)
            # only a str (or a subclass: JSON's text of it is the same string) equals a member;
            # an unhashable value raises, which is "not sure". The string keywords below test
            # ``t is str`` alone (one test per value), which would let a subclass skip them: beside
            # them, only a str is a member here (a subclass: "not sure")
            exact = f"{t} is str and " if _STRING_WORDS & set(schema) else ""
            tests.append(f"({exact}{v} in {self.constant(strings)})" if strings else "False")
        elif kinds is None:
            tests.append(f"({t} in _P or {_FINITE.format(v=v, t=t)})")  # the view leaves it as it is
        tests += self._limits(schema, v, t)
        if "format" in schema:
            if not isinstance(schema["format"], str) or schema["format"] == "regex":
                raise _Unsure
            pattern = self.formats.get(schema["format"])  # fastjsonschema skips the formats it does not know
            if isinstance(pattern, str):
                match = self.constant(re.compile(pattern).match)
                tests.append(self.guard(schema, t, "str", f"{match}({v}) is not None"))
            elif pattern is not None:  # a function, as fastjsonschema was given it (jsonschemas.FORMATS)
                tests.append(self.guard(schema, t, "str", f"{self.constant(pattern)}({v})"))
        required = schema.get("required")
        if required is not None:
            if not isinstance(required, list) or not all(type(n) is str for n in required):
                raise _Unsure
            # a required property the object's checks read (``inside``: ``v[name]``) raises KeyError
            # when absent, which is "not sure": only the others are looked up here
            properties = schema.get("properties")
            unread = [n for n in required if not isinstance(properties, dict) or n not in properties]
            if unread:
                tests.append(self.guard(schema, t, "dict", f"{v}.keys() >= {self.constant(frozenset(unread))}"))
        return "(" + " and ".join(tests) + ")"

    def _limits(self, schema: dict, v: str, t: str) -> List[str]:
        tests = []
        for word, kind, compare in (("minimum", "", ">="), ("maximum", "", "<="), ("minLength", "str", ">="),
                                    ("maxLength", "str", "<="), ("minItems", "list", ">="), ("maxItems", "list", "<=")):
            if word not in schema:
                continue
            limit = schema[word]
            if type(limit) not in ((int,) if kind else (int, float)) or (type(limit) is float and limit - limit != 0):
                raise _Unsure
            if kind:
                tests.append(self.guard(schema, t, kind, f"len({v}) {compare} {self.constant(limit)}"))
            else:  # fastjsonschema compares numbers only, not booleans
                tests.append(f"({t} is not int and {t} is not float or {v} {compare} {self.constant(limit)})")
        return tests

    def plain_items(self, items: Any) -> Optional[str]:
        """For items of one exact type and nothing else (e.g. a list of names): the test of
        a list ``{v}`` as one C loop; else None."""
        if isinstance(items, dict) and set(items) - _ANNOTATIONS == {"type"} and items["type"] in _EXACT:
            if items["type"] == "string":  # a join raises for any item not a str (a subclass is JSON's same text)
                return "_J({v}) is not None"
            return f"set(map(type, {{v}})) <= {self.constant(frozenset({_EXACT[items['type']]}))}"
        return None

    def inside(self, schema: dict, v: str, t: str, depth: int) -> List[str]:
        """The statements that check what ``v`` (of type ``t``) holds (its properties, its items)."""
        lines: List[str] = []
        x = f"x{depth}" if depth else "x"
        properties = schema.get("properties")
        texts, self.texts = self.texts, {}
        if properties is not None:
            if not isinstance(properties, dict):
                raise _Unsure
            required = set(schema.get("required") or ())
            checks: List[str] = []
            for key, sub in properties.items():
                if key in texts and accepts_texts(sub, texts[key]):
                    continue
                checks.append(f"{x} = {v}[{key!r}]" if key in required else f"{x} = {v}.get({key!r}, _M)")
                checks += self.check(sub, x, "", missing=key not in required, depth=depth)
            lines += self.block(schema, "dict", checks, t)
        items = schema.get("items")
        if items is not None:
            if not isinstance(items, (dict, bool)):
                raise _Unsure
            plain = self.plain_items(items)
            checks = [f"if not {plain.format(v=v)}:", "    return False"] if plain is not None else \
                [f"for {x} in {v}:"] + self.check(items, x, "    ", depth=depth)
            lines += self.block(schema, "list", checks, t)
        return lines

    def block(self, schema: dict, kind: str, checks: List[str], t: str) -> List[str]:
        if not checks:
            return []
        if self.guard(schema, t, kind, "") == "":
            return checks
        return [f"if {t} is {kind}:"] + ["    " + line for line in checks]


def accepts_texts(schema: Any, texts: FrozenSet[str]) -> bool:
    """Whether ``schema`` surely accepts each of ``texts`` (str, each its JSON text as it is):
    it has no keyword but a type that allows a string, an enum or a const of them, and annotations."""
    if not isinstance(schema, dict) or not set(schema) <= {"type", "enum", "const"} | _ANNOTATIONS or not texts:
        return False
    kinds = schema.get("type", "string")
    if not (kinds == "string" or isinstance(kinds, list) and "string" in kinds):
        return False
    if "enum" in schema and not (isinstance(schema["enum"], list) and all(
            any(type(member) is str and member == text for member in schema["enum"]) for text in texts)):
        return False
    return "const" not in schema or all(type(schema["const"]) is str and text == schema["const"] for text in texts)
