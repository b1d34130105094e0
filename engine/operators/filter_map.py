"""A ``filter`` and the ``map`` it alone feeds, as one comprehension over the batch.

``[{map's dict literal} for e in batch if {filter's test}]`` gives the map's events of the
events the filter keeps, without the filter's list in between; the map's reads of a field the
filter has read already (``e['status']`` in both) take the filter's value, held in a name of
its own (below). It is a faster form only: the compiler (engine/compiler/fused.py) runs the
two steps themselves, each with its own step id, reasons and counters, for any batch it does
not finish.

The generated source is made of the expressions' own strict or lenient Python (see
``engine/operators/codegen.py``): never user text.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterable, Iterator, Optional, Tuple

from engine.expressions import NAMESPACE
from engine.operators.codegen import FirstTry, adopt_keys, build_function, key_cells
from engine.operators.filter import Filter
from engine.operators.map import Map

_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def fused(keep: Filter, build: Map, step_id: str) -> Optional[FirstTry]:
    """``batch -> events`` doing ``build``'s batch of ``keep``'s, or None when ``build`` makes
    no dict literal (renames, drops, nested names, ``keep: all``) or validates a schema."""
    literal = build.literal
    if literal is None or build.schema is not None:
        return None

    def made(strict: bool):
        test = keep.predicate.strict()[1] if strict else keep.predicate.test
        shown = literal(strict)
        if not strict:
            source = f"def keep_build(batch):\n    return [{shown} for e in batch if {test}]\n"
            return build_function("keep_build", source, step_id, build.names)
        test, shown = shared_reads(test, shown, build.names)
        test, shown, keys = named_keys(test, shown, build.names)  # e['f'] read through a cell
        source = (f"def make({', '.join(keys.values())}):\n    def keep_build(batch):\n"
                  f"        return [{shown} for e in batch if {test}]\n    return keep_build\n")
        run = build_function("make", source, step_id, build.names)(*keys)
        cells = key_cells(run, keys)
        if not cells:
            return run

        def keep_build(batch):
            if batch:  # the fields read with the events' own key objects
                adopt_keys(cells, batch[0])
            return run(batch)

        return keep_build

    return FirstTry(lambda: made(True), made(False))


def named_keys(test: str, literal: str, names: Iterable[str] = ()) -> Tuple[str, str, Dict[str, str]]:
    """``test`` and ``literal`` reading each field ``e['f']`` as ``e[_kN]`` instead (outside
    nested scopes, where ``e`` may be another name), and ``{field: _kN}``: the caller makes
    each ``_kN`` a cell (engine/operators/codegen.py, ``adopt_keys``)."""
    trees = [ast.parse(test, mode="eval"), ast.parse(literal, mode="eval")]
    taken = {n.id for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(NAMESPACE) | set(names)
    keys: Dict[str, str] = {}

    def name(field: str) -> str:
        if field not in keys:
            new = f"_k{len(keys)}"
            while new in taken:
                new = "_" + new
            keys[field] = new
        return keys[field]

    shown = [ast.unparse(_Keys(name).visit(tree)) for tree in trees]
    return shown[0], shown[1], keys


def shared_reads(test: str, literal: str, names: Iterable[str] = ()) -> Tuple[str, str]:
    """``test`` with its named values renamed apart from ``literal``'s, and ``literal`` reading
    from those names the fields ``test`` surely read when it holds: a read ``(_vN := e['f'])``
    reached through ``and`` operands and the first two operands of a comparison only (all
    evaluated when the test is true), each name assigned once. Reads inside a nested scope
    (a lambda, a comprehension) are left alone: ``e`` there may be another name."""
    tree = ast.parse(test, mode="eval")
    body = ast.parse(literal, mode="eval")
    taken = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)} | set(NAMESPACE) | set(names)
    counts: Dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.NamedExpr):
            counts[node.target.id] = counts.get(node.target.id, 0) + 1
    renamed: Dict[str, str] = {}
    for name in counts:
        new = f"_f{name}"
        while new in taken or new in counts or new in renamed.values():
            new = "_" + new
        renamed[name] = new
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in renamed:
            node.id = renamed[node.id]
    fields: Dict[str, str] = {}
    for named in _sure(tree.body):
        field = _field_read(named.value)
        if field is not None and counts.get(_original(named.target.id, renamed)) == 1:
            fields.setdefault(field, named.target.id)
    shown = _Reads(fields).visit(body) if fields else body
    return ast.unparse(tree), ast.unparse(shown)


def _original(name: str, renamed: Dict[str, str]) -> str:
    return next(old for old, new in renamed.items() if new == name)


def _sure(node: ast.AST) -> Iterator[ast.NamedExpr]:
    """The named values of ``node`` evaluated whenever ``node`` is true."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        for value in node.values:
            yield from _sure(value)
    elif isinstance(node, ast.Compare):
        yield from _sure(node.left)
        yield from _sure(node.comparators[0])
    elif isinstance(node, ast.NamedExpr):
        yield node
        yield from _sure(node.value)


def _field_read(node: ast.AST) -> Optional[str]:
    """``f`` of ``e['f']``."""
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "e"
            and isinstance(node.slice, ast.Constant) and type(node.slice.value) is str):
        return node.slice.value
    return None


class _Reads(ast.NodeTransformer):
    def __init__(self, fields: Dict[str, str]) -> None:
        self.fields = fields

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _SCOPES):
            return node
        field = _field_read(node)
        if field is not None and field in self.fields:
            return ast.copy_location(ast.Name(self.fields[field], ast.Load()), node)
        return self.generic_visit(node)


class _Keys(ast.NodeTransformer):
    def __init__(self, name) -> None:
        self.name = name

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _SCOPES):
            return node
        field = _field_read(node)
        if field is not None and isinstance(getattr(node, "ctx", None), ast.Load):
            assert isinstance(node, ast.Subscript)
            node.slice = ast.copy_location(ast.Name(self.name(field), ast.Load()), node.slice)
            return node
        return self.generic_visit(node)
