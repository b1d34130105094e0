"""Chains of one operator: ``a and b and c``, ``a + b - c``, ``a ?? b ?? c``.

The parser builds them as nested binary nodes; they are compiled to flat Python
(``t1 + t2 - t3``, one null guard for all operands) so that a chain of 100 conditions costs
no nesting: CPython refuses generated code with more than 200 nested parentheses, and each
nested level of an expression costs two or three. The nesting limit of the language
(``MAX_DEPTH``) therefore counts a whole chain as one level; a chain has at most
``MAX_CHAIN`` operands. Everything here walks the tree with loops, never recursion.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from engine.expressions.errors import ExpressionError
from engine.expressions.syntax import Binary, Node

MAX_CHAIN = 256  # operands of one chain
_GROUPS = ({"and"}, {"or"}, {"??"}, {"+", "-"}, {"*", "/", "%"})
_ASSOCIATIVE = {"and", "or", "??"}  # a chain may nest on either side: a and (b and c)


def group(op: str) -> Optional[int]:
    for number, ops in enumerate(_GROUPS):
        if op in ops:
            return number
    return None


def continues(parent: Node, child: Node) -> bool:
    """Whether ``child`` is part of the same flat chain as ``parent`` (no extra nesting)."""
    if not (isinstance(parent, Binary) and isinstance(child, Binary)):
        return False
    same = group(parent.op) is not None and group(parent.op) == group(child.op)
    return same and (child is parent.left or parent.op in _ASSOCIATIVE)


def operands(node: Binary) -> List[Node]:
    """The operands of an ``and``/``or``/``??`` chain, left to right, whichever side nests."""
    found: List[Node] = []
    stack: List[Node] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Binary) and item.op == node.op:
            stack.extend((item.right, item.left))
        else:
            found.append(item)
    _check_length(node, len(found))
    return found


def steps(node: Binary) -> Tuple[Node, List[Tuple[Binary, Node]]]:
    """An arithmetic chain ``a + b - c`` as its first operand and its (operator node, right
    operand) steps, left to right; the operator node spans the chain up to that step."""
    found: List[Tuple[Binary, Node]] = []
    first: Node = node
    number = group(node.op)
    assert number is not None, "steps() takes an arithmetic chain"
    ops = _GROUPS[number]
    while isinstance(first, Binary) and first.op in ops:
        found.append((first, first.right))
        first = first.left
    found.reverse()
    _check_length(node, len(found) + 1)
    return first, found


def _check_length(node: Node, count: int) -> None:
    if count > MAX_CHAIN:
        raise ExpressionError(f"expression too complex to compile: a chain of {count} operands "
                              f"(at most {MAX_CHAIN})", node.offset, node.length,
                              hint="split it into several map fields, or use 'in' for a list of values")
