"""The syntax tree of an expression. Every node knows its span in the source text. Frozen
records (engine/frozen.py), as the frozen dataclasses they were."""

from __future__ import annotations

from typing import Any, Tuple, Union

from engine.frozen import Frozen, init


class Node(Frozen):
    __slots__ = ("offset", "length")
    offset: int
    length: int

    def __init__(self, offset: int, length: int) -> None:
        init(self, "offset", offset)
        init(self, "length", length)


class Literal(Node):
    __slots__ = ("value",)
    value: Any  # None, bool, int, float, str

    def __init__(self, offset: int, length: int, value: Any) -> None:
        Node.__init__(self, offset, length)
        init(self, "value", value)


class Field(Node):
    __slots__ = ("path",)
    path: Tuple[Union[str, int], ...]  # ("order", "lines", 0, "sku")

    def __init__(self, offset: int, length: int, path: Tuple[Union[str, int], ...]) -> None:
        Node.__init__(self, offset, length)
        init(self, "path", path)


class ListOf(Node):
    __slots__ = ("items",)
    items: Tuple[Node, ...]

    def __init__(self, offset: int, length: int, items: Tuple[Node, ...]) -> None:
        Node.__init__(self, offset, length)
        init(self, "items", items)


class Unary(Node):
    __slots__ = ("op", "operand")
    op: str  # "-", "not"
    operand: Node

    def __init__(self, offset: int, length: int, op: str, operand: Node) -> None:
        Node.__init__(self, offset, length)
        init(self, "op", op)
        init(self, "operand", operand)


class Binary(Node):
    __slots__ = ("op", "left", "right")
    op: str  # arithmetic, comparison, "and", "or", "??", "in", "not in"
    left: Node
    right: Node

    def __init__(self, offset: int, length: int, op: str, left: Node, right: Node) -> None:
        Node.__init__(self, offset, length)
        init(self, "op", op)
        init(self, "left", left)
        init(self, "right", right)


class IsNull(Node):
    __slots__ = ("operand", "negated")
    operand: Node
    negated: bool

    def __init__(self, offset: int, length: int, operand: Node, negated: bool) -> None:
        Node.__init__(self, offset, length)
        init(self, "operand", operand)
        init(self, "negated", negated)


class Call(Node):
    __slots__ = ("name", "name_length", "args")
    name: str
    name_length: int
    args: Tuple[Node, ...]

    def __init__(self, offset: int, length: int, name: str, name_length: int, args: Tuple[Node, ...]) -> None:
        Node.__init__(self, offset, length)
        init(self, "name", name)
        init(self, "name_length", name_length)
        init(self, "args", args)


class Index(Node):
    __slots__ = ("target", "index")
    target: Node
    index: Node

    def __init__(self, offset: int, length: int, target: Node, index: Node) -> None:
        Node.__init__(self, offset, length)
        init(self, "target", target)
        init(self, "index", index)


def children(node: Node) -> Tuple[Node, ...]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, Binary):
        return node.left, node.right
    if isinstance(node, (Unary, IsNull)):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListOf):
        return node.items
    if isinstance(node, Index):
        return node.target, node.index
    return ()
