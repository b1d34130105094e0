"""Event JSON Schemas: load, compile once (fastjsonschema), and derive the known fields.

Events are validated in their JSON form (Decimal as a number, timestamps as ISO text): the
schema describes what consumers of the JSON see. ``schema_view`` converts an event only as deep
as its schema looks.

fastjsonschema (and pathlib, urllib.parse) are imported when the first schema is loaded: a
topology without event schemas does not pay them at start (~3-5 ms).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Callable, Dict, FrozenSet, Iterator, Optional, Sequence, Tuple

from engine.errors import ConfigError
from engine.operators.dead import describe
from engine.operators.fields import Fields
from engine.operators.schema_accept import Accept, compile_accept
from engine.operators.schema_view import View, compile_view
from engine.resources import find_schema_file, schema_path

# more directories $refs may read from while a topology is bound: its own directory (binding)
_REF_ROOTS: ContextVar[Tuple[str, ...]] = ContextVar("velocity_flow_ref_roots", default=())


@contextmanager
def ref_roots(roots: Sequence[str]) -> Iterator[None]:
    """Inside the block, every event schema's ``$ref``s may also read files under ``roots``."""
    token = _REF_ROOTS.set(tuple(os.path.abspath(root) for root in roots))
    try:
        yield
    finally:
        _REF_ROOTS.reset(token)


_JSON_TO_ENGINE = {"integer": "int", "number": "float", "boolean": "bool", "string": "str",
                   "object": "json", "array": "json"}


@lru_cache(maxsize=64)
def _load(path: str, roots: Tuple[str, ...] = ()) -> Tuple[Callable, View, Dict[str, str], Optional[Accept], Any]:
    found = find_schema_file(path)
    try:
        schema = _read_json(found)
    except OSError as exc:
        raise ConfigError(f"cannot read schema file '{path}': {exc.strerror}", ("schema",),
                          hint="check the path; it is relative to the working directory") from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"schema file '{path}' is not valid JSON: {_reason(exc)}", ("schema",)) from None
    if not isinstance(schema, (dict, bool)):
        raise ConfigError(f"schema file '{path}' is not a valid JSON Schema: it is a JSON {_json_kind(schema)}, "
                          "not an object", ("schema",), hint='an event schema is an object: {"type": "object", ...}')
    import pathlib

    import fastjsonschema

    if isinstance(schema, dict):
        # relative $refs resolve against the schema file itself, whatever its $id says
        schema = {**schema, "$id": pathlib.Path(os.path.realpath(found)).as_uri()}
    allowed = _allowed_roots(found, roots)
    try:
        validate = fastjsonschema.compile(schema, handlers=_LocalRefs(path, allowed), formats=FORMATS)
    except ConfigError:
        raise
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - whatever the compiler trips on is in the schema
        raise ConfigError(f"schema file '{path}' is not a valid JSON Schema: {_reason(exc)}", ("schema",)) from None
    _linear_patterns(validate, schema)
    _probe(path, validate, schema)
    return validate, compile_view(schema), _fields_of(schema), _accept(schema), schema


@lru_cache(maxsize=64)
def _accept_knowing(path: str, roots: Tuple[str, ...],
                    texts: FrozenSet[Tuple[str, FrozenSet[str]]]) -> Optional[Accept]:
    """The quick yes of the schema at ``path`` for events known to hold ``texts`` (``compile_accept``)."""
    return _accept(_load(path, roots)[4], dict(texts))


_FORMAT_KEY = "_re_pattern"  # a format's entry in fastjsonschema's table: its name and this


class _Search:
    """What fastjsonschema's code calls on a ``pattern``'s regular expression: ``search``."""

    __slots__ = ("search",)

    def __init__(self, test: Callable[[str], bool]) -> None:
        self.search = test


def _linear_patterns(validate: Callable, schema: Any) -> None:
    """The schema's ``pattern`` and ``patternProperties`` expressions on RE2, in time linear in
    the text, instead of Python's backtracking ``re``: with ``^(a+)+$`` an event of 30 a's and a
    '!' stalled the flow for minutes. fastjsonschema's code calls ``REGEX_PATTERNS[p].search``;
    each one RE2 takes is swapped (its ``\\Z`` form: the end of the text, as JSON Schema's
    ``$``), one it refuses (a backreference, a lookaround) stays on ``re``. RE2's ``\\d`` and
    ``\\w`` are ASCII, as ECMA 262's, which JSON Schema names. The ``format`` expressions (the
    same table, called with ``match``) stay fastjsonschema's."""
    import fastjsonschema

    from engine.expressions import regex

    function = getattr(validate, "func", validate)  # a partial of the generated function, with the formats
    patterns = getattr(function, "__globals__", {}).get("REGEX_PATTERNS")
    generator = getattr(fastjsonschema, "_get_code_generator_class", None)
    formats = getattr(generator(schema), "FORMAT_REGEXS", None) if generator is not None else None
    if not isinstance(patterns, dict) or not isinstance(formats, dict):
        return
    for key, compiled in list(patterns.items()):
        if key.removesuffix(_FORMAT_KEY) in formats or not isinstance(getattr(compiled, "pattern", None), str):
            continue
        try:
            patterns[key] = _Search(regex.literal(compiled.pattern, "test"))
        except regex.RegexError:
            pass


def _accept(schema, texts: Optional[Dict[str, FrozenSet[str]]] = None) -> Optional[Accept]:
    """The quick yes of ``schema`` (engine/operators/schema_accept.py), with the format
    expressions of the fastjsonschema code generator that compiled it."""
    import fastjsonschema

    generator = getattr(fastjsonschema, "_get_code_generator_class", None)
    formats = getattr(generator(schema), "FORMAT_REGEXS", None) if generator is not None else None
    return compile_accept(schema, {**formats, **FORMATS}, texts) if isinstance(formats, dict) else None


def is_email(text: str) -> bool:
    """fastjsonschema's ``email`` format, ``^(?!.*\\.\\..*@)[^@.][^@]*(?<!\\.)@[^@]+\\.[^@]+\\Z``, in
    linear time: its look-ahead backtracks quadratically (an 80,000-character text of dots took
    3 s, a 1 MB one minutes: one event stalled the flow). The same language: exactly one ``@``;
    before it, text neither starting nor ending with a dot, without ``..`` unless it holds a
    line break (``.`` in the look-ahead does not cross one); after it, a dot with text on both
    sides."""
    at = text.find("@")
    if at < 1 or text.count("@") != 1:
        return False
    local, domain = text[:at], text[at + 1:]
    return (local[0] != "." and local[-1] != "." and ("\n" in local or ".." not in local)
            and "." in domain[1:-1])


FORMATS = {"email": is_email}  # the formats checked here instead of by fastjsonschema's expressions


_MAX_BYTES = 8 * 2 ** 20


def _read_json(path: str):
    """A schema document: a regular file (not /dev/zero, not a pipe) of at most 8 MB, strict JSON."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(0, "not a regular file")
    with open(path, "rb") as handle:
        data = handle.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise OSError(0, f"larger than {_MAX_BYTES // 2 ** 20} MB")
    return json.loads(data.decode("utf-8"), parse_float=_finite, parse_constant=_not_json)


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0:
        raise ValueError(f"the number {text} is too large for a double")
    return value


def _not_json(text: str):
    raise ValueError(f"{text} is not JSON")


def _probe(path: str, validate: Callable, schema) -> None:
    """Run the compiled validator on a few small values (and objects with every declared
    property set to them): a schema that refers to itself without end (``{"$ref": "#"}``)
    would fail on every event; it is a schema error instead."""
    from fastjsonschema import JsonSchemaValueException

    scalars = [{}, [], "", 0, None]
    names = list(_fields_of(schema))
    for value in scalars + [{name: v for name in names} for v in scalars if names]:
        try:
            validate(value)
        except JsonSchemaValueException:
            pass
        except RecursionError:
            raise ConfigError(f"schema file '{path}' is not a valid JSON Schema: a $ref refers to itself "
                              "without end", ("schema",)) from None
        except Exception as exc:  # noqa: BLE001 - generated code that cannot run: the schema is wrong
            raise ConfigError(f"schema file '{path}' is not a valid JSON Schema: {_reason(exc)}",
                              ("schema",)) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, re.error):
        return f"bad regular expression: {exc}"
    if isinstance(exc, (RecursionError, SyntaxError, MemoryError)):
        return "nested too deeply"
    return str(exc) or type(exc).__name__.lower()


def _json_kind(value) -> str:
    return {list: "array", str: "string", int: "number", float: "number", type(None): "null"}.get(type(value), "value")


def _allowed_roots(found: str, extra: Tuple[str, ...]) -> Tuple[str, ...]:
    """Where ``$ref``s may point: the bundled schemas, the schema file's directory and ``extra``
    (the topology's directory, when the caller knows it)."""
    roots = [schema_path(""), os.path.dirname(os.path.abspath(found)), *extra]
    return tuple(os.path.realpath(root) for root in roots)


class _LocalRefs(Mapping):
    """fastjsonschema's ``handlers`` for every URI scheme: a ``$ref`` to another document is
    read only when it is a file under one of ``roots``; nothing is fetched from the network
    and no other file is read."""

    def __init__(self, path: str, roots: Tuple[str, ...]) -> None:
        self.path, self.roots = path, roots

    def __contains__(self, scheme) -> bool:
        return True

    def __getitem__(self, scheme) -> Callable[[str], object]:
        return self._read

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def _read(self, uri: str):
        from urllib.parse import urlsplit

        parts = urlsplit(uri)
        target = None
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            from urllib.request import url2pathname  # http.client, email, ssl: ~25 ms at every start

            target = os.path.realpath(url2pathname(parts.path))
        if target is None or not any(target == root or target.startswith(root + os.sep) for root in self.roots):
            raise ConfigError(f"schema file '{self.path}': $ref '{uri}' is not allowed", ("schema",),
                              hint="a $ref may point only into the same document (#/...), to files next to the "
                                   "schema or the topology, or to the bundled schemas")
        try:
            return _read_json(target)
        except OSError as exc:
            raise ConfigError(f"schema file '{self.path}': cannot read $ref '{uri}': {exc.strerror}",
                              ("schema",)) from None
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"schema file '{self.path}': $ref '{uri}' is not valid JSON: {_reason(exc)}",
                              ("schema",)) from None


def _fields_of(schema) -> Dict[str, str]:
    fields: Dict[str, str] = {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    for name, prop in (properties if isinstance(properties, dict) else {}).items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        kinds = [k for k in ([kind] if isinstance(kind, str) else kind if isinstance(kind, list) else [])
                 if k != "null"]
        fields[name] = _JSON_TO_ENGINE.get(kinds[0], "any") if len(kinds) == 1 and isinstance(kinds[0], str) else "any"
    return fields


class EventSchema:
    """A compiled event schema and the fields it declares."""

    def __init__(self, path: str, roots: Sequence[str] = (), texts: Optional[Dict[str, FrozenSet[str]]] = None) -> None:
        """``roots``: more directories ``$ref``s may read from (by default those of ``ref_roots``:
        the directory of the topology being bound); ``texts``: top-level field -> every text it
        can hold in the events checked here (a map's fields of string literals): ``accept``
        does not look at those the schema surely accepts (schema_accept.compile_accept)."""
        from fastjsonschema import JsonSchemaValueException  # loaded by _load: a lookup

        self.path = path
        roots = tuple(roots) or _REF_ROOTS.get()
        self._validate, self._view, declared, self.accept, _ = _load(path, roots)
        if texts:
            self.accept = _accept_knowing(path, roots, frozenset(texts.items()))
        self.fields: Fields = declared or None
        self._invalid = JsonSchemaValueException

    def violation(self, event: dict) -> Optional[str]:
        """None when ``event`` is valid, else the reason, naming the offending field."""
        accept = self.accept  # True: valid; False: not sure, the view and fastjsonschema tell
        try:
            if accept is not None and accept(event):
                return None
        except Exception:  # noqa: BLE001, S110 - not sure: the full check gives the verdict and reason
            pass
        try:
            self._validate(self._view(event))
        except self._invalid as exc:
            return f"schema violation ({self.path}): {exc.message}"
        except Exception as exc:  # noqa: BLE001 - an event the validator cannot take is that event's failure
            return f"cannot be validated against {self.path}: {describe(exc)}"
        return None
