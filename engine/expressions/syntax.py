"""The syntax tree of an expression. Every node knows its span in the source text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple, Union


@dataclass(frozen=True)
class Node:
    offset: int
    length: int


@dataclass(frozen=True)
class Literal(Node):
    value: Any  # None, bool, int, float, str


@dataclass(frozen=True)
class Field(Node):
    path: Tuple[Union[str, int], ...]  # ("order", "lines", 0, "sku")


@dataclass(frozen=True)
class ListOf(Node):
    items: Tuple[Node, ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-", "not"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # arithmetic, comparison, "and", "or", "??", "in", "not in"
    left: Node
    right: Node


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool


@dataclass(frozen=True)
class Call(Node):
    name: str
    name_length: int
    args: Tuple[Node, ...]


@dataclass(frozen=True)
class Index(Node):
    target: Node
    index: Node


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
