"""``map``: build a new event from the input: keep, rename, drop, then computed fields."""

from __future__ import annotations

import ast
import re
from typing import Callable, Dict, FrozenSet, List, Optional

from mypy_extensions import mypyc_attr

from engine.code_cache import compiled, kept_rewrite
from engine.errors import ConfigError
from engine.expressions.object_tests import share_object_tests
from engine.expressions.parser import parse
from engine.expressions.reuse import reuse_reads
from engine.expressions.syntax import Call, Literal, Node
from engine.hints import did_you_mean
from engine.operators.codegen import FirstTry, build_function
from engine.operators.dead import one_by_one
from engine.operators.expr import compile_option
from engine.operators.fields import fully_known
from engine.operators.jsonschemas import EventSchema
from engine.operators.validate import split_valid
from engine.records import KEY_FIELD, DeadLetter
from engine.values import to_str


def key_text(value):
    """Keys are strings (Bytewax routes state by string keys); null stays null. The text is the
    language's ``str(value)`` (``values.to_str``: ``true``, ISO 8601, compact JSON), never Python's
    ``str``: it is a Kafka message key and the key of state and table rows, which an expression's
    ``str(...)`` must be able to name. Text and int (exact ``type``: a bool is not one) skip the call."""
    kind = type(value)
    return value if kind is str or value is None else str(value) if kind is int else to_str(value)


def _key_code(src: str) -> str:
    """``key_text`` of ``src`` written out: a Python call less per event (~350 instructions)."""
    return (f"(_key_t if _type(_key_t := ({src})) is _str or _key_t is None else "
            "_str(_key_t) if _type(_key_t) is _int else _to_str(_key_t))")


@mypyc_attr(allow_interpreted_subclasses=True)  # (operators/key.py: Key is a Map; key.py is not compiled)
class Map:
    """One generated function per step builds every output event.

    Computed fields are evaluated on the *input* event, so ``{a: b, b: a}`` swaps. Dotted
    output names build nested objects.
    """

    kind = "stateless"
    fresh_output = True  # each event is a dict it built (engine/compiler/ownership.py)

    def __init__(self, step_id: str, config: dict, input_fields) -> None:
        self.step_id = step_id
        computed = {name: compile_option(text, input_fields, ("fields", name))
                    for name, text in (config.get("fields") or {}).items()}
        key = config.get("key")
        if key is not None:
            computed_key = compile_option(key, input_fields, ("key",))
        keep = config.get("keep", "none")
        rename: Dict[str, str] = config.get("rename") or {}
        drop: List[str] = config.get("drop") or []
        self._check_names(keep, rename, drop, input_fields)
        lines = ["def build(e):", f"    o = {self._start(keep)}"]
        for old, new in rename.items():
            lines.append(f"    if {old!r} in o: o[{new!r}] = o.pop({old!r})")
        for name in drop:
            lines.append(f"    o.pop({name!r}, None)")
        for name, expression in computed.items():
            if "." in name:
                lines.append(f"    _set_path(o, {tuple(name.split('.'))!r}, ({expression.python}))")
            else:
                lines.append(f"    o[{name!r}] = ({expression.python})")
        if key is not None:
            lines.append(f"    o[{KEY_FIELD!r}] = {_key_code(computed_key.python)}")
        lines.append("    return o")
        names = {"_set_path": _set_path, "_key_text": key_text, "dict": dict, "_int": int, "_to_str": to_str}
        self._build = build_function("build", "\n".join(lines) + "\n", step_id, names)
        # (strict) -> the output event as one dict literal over e, when it is one (engine/operators/filter_map.py)
        self.literal: Optional[Callable[[bool], str]] = None
        self._build_all: Optional[FirstTry] = None  # one comprehension over the batch
        if not rename and not drop and all("." not in name for name in computed) and keep != "all":
            def literal(strict: bool) -> str:
                start = self._start(keep, strict)[1:-1]

                def source(e):
                    return e.strict()[0] if strict else e.python

                items = [f"{name!r}: ({source(e)})" for name, e in computed.items()]
                if key is not None:
                    items.append(f"{KEY_FIELD!r}: {_key_code(source(computed_key))}")
                # a field read by several fields' expressions (after.a, after.b) read and tested to be
                # an object once, in the strict form only: the one on the hot path, made at run time
                shown = "{" + ", ".join(([start] if start else []) + items) + "}"
                return _absent_steps_null(share_object_tests(reuse_reads(shown))) if strict else shown

            def build_all(strict: bool):
                source = f"def build_all(batch):\n    return [{literal(strict)} for e in batch]\n"
                return build_function("build_all", source, step_id, names)

            self.literal = literal
            self._build_all = FirstTry(lambda: build_all(True), build_all(False))
        self.names = names
        self.schema = EventSchema(config["schema"], texts=_known_texts(config.get("fields") or {})) \
            if config.get("schema") else None
        self.output_fields = self._fields(keep, rename, drop, computed, key is not None, input_fields)

    @staticmethod
    def _start(keep, strict: bool = False) -> str:
        """The output event's first fields. A kept field the event lacks is null, as a missing
        field is everywhere (it was a KeyError, the event dead-lettered); the strict form reads
        ``e[name]`` (cheaper) and leaves such a batch to the lenient one."""
        if keep == "all":
            return "dict(e)"
        if keep == "none":
            return "{}"
        read = "e[{!r}]" if strict else "e.get({!r})"
        return "{" + ", ".join(f"{k!r}: {read.format(k)}" for k in keep) + "}" if keep else "{}"

    @staticmethod
    def _check_names(keep, rename, drop, fields) -> None:
        if not fully_known(fields):
            return
        listed = [("keep", i, n) for i, n in enumerate(keep)] if isinstance(keep, list) else []
        listed += [("rename", n, n) for n in rename] + [("drop", i, n) for i, n in enumerate(drop)]
        for option, where, name in listed:
            if name not in fields:
                raise ConfigError(f"unknown field '{name}'", (option, where),
                                  hint=did_you_mean(name, fields) or "fields here: " + ", ".join(sorted(fields)))

    @staticmethod
    def _fields(keep, rename, drop, computed, keyed, input_fields):
        if keep == "all" and input_fields is None:
            return None
        if keep == "all":
            out = dict(input_fields)
        elif isinstance(keep, list):
            out = {k: (input_fields or {}).get(k, "any") for k in keep}
        else:
            out = {}
        for old, new in rename.items():
            if old in out:
                out[new] = out.pop(old)
        for name in drop:
            out.pop(name, None)
        for name, expression in computed.items():
            out[name.split(".")[0]] = expression.type if "." not in name else "json"
        if keyed:
            out[KEY_FIELD] = "str"
        return out

    def process(self, batch: list):
        build = self._build
        deads: List[DeadLetter] = []
        try:
            oks = self._build_all(batch) if self._build_all is not None else [build(e) for e in batch]
        except Exception:  # noqa: BLE001 - isolate the failing events
            oks, deads = one_by_one(self.step_id, batch, build)
        if self.schema is not None:
            oks, invalid = split_valid(self.step_id, self.schema, oks)
            deads += invalid
        return oks, deads


def _known_texts(fields: dict) -> Dict[str, FrozenSet[str]]:
    """Top-level field -> every text it can hold, for the fields ``literal_texts`` proves (not the
    key, nor a field a dotted one writes into: ``type.sub`` replaces ``type``'s text)."""
    nested = {name.split(".", 1)[0] for name in fields if "." in name}
    return {name: found for name, text in fields.items()
            if "." not in name and name != KEY_FIELD and name not in nested and isinstance(text, str)
            and (found := literal_texts(parse(text))) is not None}


def literal_texts(tree: Node) -> Optional[FrozenSet[str]]:
    """Every value an expression of string literals and ``if``s choosing between them can give
    (``if(ops.t == 'c', 'Created', 'Updated')``); None for any other expression. The schema
    check of its field looks at it only when one of them is refused (engine/operators/jsonschemas.py)."""
    if isinstance(tree, Literal):
        return frozenset([tree.value]) if type(tree.value) is str else None
    if isinstance(tree, Call) and tree.name == "if" and len(tree.args) == 3:
        then, otherwise = literal_texts(tree.args[1]), literal_texts(tree.args[2])
        return then | otherwise if then is not None and otherwise is not None else None
    return None


_FLAG = re.compile(r"_d[0-9]+")  # share_object_tests' name for a shared read's object test


@kept_rewrite  # (a parse and a walk, kept across processes)
def _absent_steps_null(src: str) -> str:
    """The strict form with a nested step ``t[k]`` of an object read as ``t.get(k)``, as the
    lenient form reads it: a step absent from an object (``ops.transport_order`` where the
    ``ops`` map has no such key) is null there, not a KeyError that sends the whole batch to
    the lenient form (and the next 8 batches: ``FirstTry``), reading every top-level field
    by ``e.get``. Only the translator's shape (``t[k] if <t is a dict> else None``) is
    rewritten; ``src`` itself when there is none."""
    try:
        tree = ast.parse(src, mode="eval")
        found = 0
        for node in ast.walk(tree):
            if isinstance(node, ast.IfExp) and _is_object_step(node):
                body = node.body
                assert isinstance(body, ast.Subscript)
                node.body = ast.Call(ast.Attribute(body.value, "get", ast.Load()), [body.slice], [])
                found += 1
        if not found:
            return src
        out = f"({ast.unparse(ast.fix_missing_locations(tree))})"
        compiled(out, "<expression>", "eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return src
    return out


def _is_object_step(node: ast.IfExp) -> bool:
    """``t[k] if _type(...) is _dict else None`` (or ``if _dN``: a shared test), ``t`` not the event."""
    body, test = node.body, node.test
    if not (isinstance(node.orelse, ast.Constant) and node.orelse.value is None and isinstance(body, ast.Subscript)
            and isinstance(body.value, ast.Name) and body.value.id != "e" and isinstance(body.slice, ast.Constant)
            and type(body.slice.value) is str):
        return False
    if isinstance(test, ast.NamedExpr):
        test = test.value
    if isinstance(test, ast.Name):
        return _FLAG.fullmatch(test.id) is not None
    return (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Is)
            and isinstance(test.comparators[0], ast.Name) and test.comparators[0].id == "_dict"
            and isinstance(test.left, ast.Call) and isinstance(test.left.func, ast.Name)
            and test.left.func.id == "_type")


def _set_path(event: dict, path, value) -> None:
    node = event
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
