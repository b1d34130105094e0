"""A field read once per evaluation: generated code that reads a top-level field again where
an earlier read of it has surely run (on every path to this one) uses that read's value.

``table + ':' + if(table == 'a', ..., if(table == 'b', ...))`` reads ``table`` three times,
``coalesce(after.x, before.x)`` next to ``coalesce(after.y, before.y)`` reads ``after`` twice:
~300 instructions per ``e.get(name)``. The event does not change while one expression is
evaluated, so the later reads give the same value. Python's order of evaluation decides what
has surely run: the test of a conditional before its branches, the first operand of
``and``/``or`` before the others, operands and arguments left to right. The code comes from
``translate.py``; anything it does not make (a lambda, a comprehension) leaves it unchanged.
"""

from __future__ import annotations

import ast
import re
from typing import Dict, List, Optional, Tuple

from engine.code_cache import compiled, kept_rewrite

_READ = re.compile(r"\be(?:\.get\(|\[)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
Key = Tuple[bool, str]  # (read with [], the field)
MAX_SOURCE = 8_192  # characters of generated code rewritten (~12 ms); longer code is left as it is


class _Unusual(Exception):
    """Code this module does not rewrite."""


def reuse_reads(src: str) -> str:
    """``src`` with repeated reads of a field replaced by the first one's value where it has
    surely been read; ``src`` itself when no field is read twice, or the code is unusual or
    long (the rewrite takes ~1.5 us per character)."""
    if len(src) > MAX_SOURCE:
        return src
    found = _READ.findall(src)
    if len(found) == len(set(found)):
        return src  # the usual expression: nothing to reuse, no parse
    return _rewritten(src)


@kept_rewrite  # (a parse and a walk: ~0.2-1 ms, kept across processes)
def _rewritten(src: str) -> str:
    try:
        tree = ast.parse(src, mode="eval")
        rewrite = _Reuse(tree)
        if not rewrite.owners:
            return src
        out = f"({rewrite.spliced(src)})"  # as the translator's: one term wherever it goes
        compiled(f"lambda e: {out}", "<expression>", "eval")  # CPython's limits: the original then (kept: it is run)
    except (_Unusual, SyntaxError, RecursionError, MemoryError, ValueError, KeyError):
        return src
    return out


def _key(node: ast.AST) -> Optional[Key]:
    """The field ``node`` reads from the event, if it is ``e.get('name')`` or ``e['name']``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and _is_event(node.func.value) and len(node.args) == 1 and not node.keywords \
            and isinstance(node.args[0], ast.Constant) and type(node.args[0].value) is str:
        return (False, node.args[0].value)
    if isinstance(node, ast.Subscript) and _is_event(node.value) and isinstance(node.slice, ast.Constant) \
            and type(node.slice.value) is str:
        return (True, node.slice.value)
    return None


def _is_event(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "e"


class _Reuse:
    """Which reads repeat an earlier one that has surely run (``reusers``: read -> owner).
    Recursive, as ``ast.unparse`` is: code nested too deeply for it is left as it is."""

    def __init__(self, tree: ast.Expression) -> None:
        self.owners: Dict[int, ast.AST] = {}  # id(owner) -> owner, for owners with a reuser
        self.reusers: Dict[int, ast.AST] = {}  # id(read) -> its owner
        self.parents: Dict[int, ast.AST] = {}
        self.targets: Dict[str, int] = {}  # walrus target -> times assigned
        self.nodes: Dict[int, ast.AST] = {}  # id(read) -> read, for the reusers
        self.loads: Dict[str, List[ast.AST]] = {}  # name -> where it is read
        self.visit(tree.body, {})

    def visit(self, node: ast.AST, held: Dict[Key, ast.AST]) -> None:
        """Visit ``node`` in evaluation order; ``held``: the reads surely run before it (a
        part evaluated only sometimes gets a copy: what it reads is not sure afterwards)."""
        key = _key(node)
        if key is not None:
            owner = held.get(key)
            if owner is None:
                held[key] = node
            else:
                self.reusers[id(node)] = owner
                self.nodes[id(node)] = node
                self.owners[id(owner)] = owner
            return
        for child in ast.iter_child_nodes(node):
            self.parents[id(child)] = node
        if isinstance(node, ast.IfExp):
            self.visit(node.test, held)
            self.visit(node.body, dict(held))
            self.visit(node.orelse, dict(held))
        elif isinstance(node, (ast.BoolOp, ast.Compare)):  # a later operand runs after the ones before it
            first = [node.values[0]] if isinstance(node, ast.BoolOp) else [node.left, node.comparators[0]]
            rest = node.values[1:] if isinstance(node, ast.BoolOp) else node.comparators[1:]
            for operand in first:
                self.visit(operand, held)
            later = dict(held)
            for operand in rest:
                self.visit(operand, later)
        elif isinstance(node, ast.NamedExpr):
            if not isinstance(node.target, ast.Name) or node.target.id == "e":
                raise _Unusual
            self.targets[node.target.id] = self.targets.get(node.target.id, 0) + 1
            self.visit(node.value, held)
        elif isinstance(node, ast.Dict):
            for key_node, value in zip(node.keys, node.values, strict=True):
                if key_node is not None:  # None: a ** unpacking
                    self.visit(key_node, held)
                self.visit(value, held)
        elif isinstance(node, (ast.Call, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Attribute, ast.Tuple, ast.List,
                               ast.Set, ast.Slice, ast.JoinedStr, ast.FormattedValue, ast.Starred, ast.keyword)):
            for child in ast.iter_child_nodes(node):  # operands and arguments: left to right
                if isinstance(child, (ast.expr, ast.keyword)):
                    self.visit(child, held)
        elif isinstance(node, ast.Name):
            self.loads.setdefault(node.id, []).append(node)
        elif not isinstance(node, ast.Constant):
            raise _Unusual  # a lambda, a comprehension, ...: not made by the translator

    def spliced(self, src: str) -> str:
        """``src`` with each reused read named once (a walrus, or the one it is in) and its
        repeats that name; then ``(_v2 := _v1)`` of such a name is ``_v1``, and so is every
        later ``_v2`` (both assigned once: where ``_v2`` is read, ``_v1`` holds its value).
        Written into the text at the nodes' positions: ``ast.unparse`` of the changed tree was
        ~60% of the rewrite's cost, and the rewrite ~25% of validating the domain flow."""
        data = src.encode()  # the nodes' columns count UTF-8 bytes
        starts = [0]
        for line in data.split(b"\n")[:-1]:
            starts.append(starts[-1] + len(line) + 1)

        def span(node: ast.AST) -> Tuple[int, int]:
            return (starts[node.lineno - 1] + node.col_offset,  # type: ignore[attr-defined]
                    starts[node.end_lineno - 1] + node.end_col_offset)  # type: ignore[attr-defined]

        edits: List[Tuple[int, int, str]] = []
        names: Dict[int, str] = {}
        fresh = 0
        for key, owner in self.owners.items():
            parent = self.parents[key]
            if isinstance(parent, ast.NamedExpr) and parent.value is owner and self.targets.get(parent.target.id) == 1:
                names[key] = parent.target.id  # already kept: (_v1 := e.get('a'))
                continue
            fresh += 1
            while f"_r{fresh}" in self.targets:
                fresh += 1
            names[key] = f"_r{fresh}"
            start, end = span(owner)
            edits.append((start, end, f"({names[key]} := {data[start:end].decode()})"))
        kept = set(names.values())
        copies: Dict[str, str] = {}
        for key, owner in self.reusers.items():
            parent = self.parents[key]
            name = names[id(owner)]
            if isinstance(parent, ast.NamedExpr) and isinstance(parent.target, ast.Name) \
                    and self.targets.get(parent.target.id) == 1 and parent.target.id not in kept:
                copies[parent.target.id] = name
                edits.append((*span(parent), name))
            else:
                edits.append((*span(self.nodes[key]), name))
        for copy, name in copies.items():
            edits.extend((*span(node), name) for node in self.loads.get(copy, ()))
        out: List[str] = []
        at = 0
        for start, end, text in sorted(edits):
            if start < at:
                raise _Unusual  # edits in edits: not what the translator makes
            out += (data[at:start].decode(), text)
            at = end
        out.append(data[at:].decode())
        return "".join(out)
