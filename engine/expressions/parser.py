"""Recursive-descent parser: tokens -> syntax tree.

Precedence, loosest first: ``or``; ``and``; ``not``; comparisons (``== != < <= > >= in``,
``not in``, ``is [not] null``; not chainable); ``??``; ``+ -``; ``* / %``; unary ``-``;
postfix ``.name`` and ``[index]``.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from engine.expressions.chains import continues
from engine.expressions.errors import ExpressionError
from engine.expressions.lexer import KEYWORDS, Token, tokenize
from engine.expressions.syntax import Binary, Call, Field, Index, IsNull, ListOf, Literal, Node, Unary, children

COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
_CONSTANTS = {"null": None, "true": True, "false": False}
# Deeper expressions are refused: the parser and the compiler recurse once per level, and
# CPython refuses generated code with more than 200 nested parentheses (2 to 3 per level).
# A chain of one operator (a and b and c, a + b - c) is one level: see chains.py.
MAX_DEPTH = 32
_DEPTH_HINT = "split it into several map fields"
# Compiling costs up to about 15 us per character (long chains of chains): 64 Ki characters
# stay under a second, and leave room for a list of thousands of values after 'in'.
MAX_LENGTH = 1 << 16


# Trees by text: a flow parses each expression when it is bound and again as its strict form and
# keys are written at the first batch (a tree is frozen: one is shared). Failures are not kept.
_PARSED: Dict[str, Node] = {}
_PARSED_KEPT = 4096


def parse(text: str) -> Node:
    tree = _PARSED.get(text) if type(text) is str else None
    if tree is None:
        tree = _parsed(text)
        if type(text) is str:
            if len(_PARSED) >= _PARSED_KEPT:
                _PARSED.clear()
            _PARSED[text] = tree
    return tree


def _parsed(text: str) -> Node:
    if not isinstance(text, str):  # a list, a number, null where an expression belongs: reported, never read
        raise ExpressionError(f"an expression must be text, not {_kind(text)}", 0, 1,
                              hint="write the expression as a string, quoted if it holds ': ' or '#'")
    if not text.strip():
        raise ExpressionError("empty expression", 0, max(1, len(text)))
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression too long ({len(text)} characters, at most {MAX_LENGTH})", MAX_LENGTH,
                              len(text) - MAX_LENGTH, hint=_DEPTH_HINT)
    tree = _Parser(text).parse()
    _check_depth(tree)
    return tree


def _kind(value: object) -> str:
    if value is None:
        return "null"
    kinds = ((bool, "true or false"), (int, "a number"), (float, "a number"), (dict, "a mapping"), (list, "a list"))
    return next((word for kind, word in kinds if isinstance(value, kind)), type(value).__name__)


def _check_depth(tree: Node) -> None:
    """Refuse a syntax tree deeper than MAX_DEPTH (nesting that is not parentheses, calls or
    unary operators, which are refused while parsing), without recursing itself."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested too deeply (more than {MAX_DEPTH} levels)",
                                  node.offset, node.length, hint=_DEPTH_HINT)
        stack.extend((child, depth + (not continues(node, child))) for child in children(node))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: List[Token] = tokenize(text)
        self.pos = 0
        self.depth = 0  # of the recursion, checked against MAX_DEPTH

    # -- token helpers -------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "name") and self.tok.text in texts

    def take(self) -> Token:
        token = self.tok
        self.pos += 1
        return token

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            raise self.unexpected(f"expected '{text}' {what}")
        return self.take()

    def unexpected(self, message: str = "") -> ExpressionError:
        token = self.tok
        if token.kind == "end":
            return ExpressionError(f"{message}, found the end of the expression" if message
                                   else "unexpected end of expression", token.offset, 1)
        found = f"unexpected '{token.text}'"
        return ExpressionError(f"{message}, found '{token.text}'" if message else found, token.offset, len(token.text))

    @staticmethod
    def span(first: Node, last: Node) -> Tuple[int, int]:
        return first.offset, last.offset + last.length - first.offset

    # -- grammar ------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.expression()
        if self.tok.kind != "end":
            raise self.unexpected()
        return node

    def expression(self) -> Node:
        return self.nested(lambda: self.binary_chain(("or",), self.conjunction))

    def nested(self, parse_part):
        """``parse_part()`` one level deeper; refused beyond MAX_DEPTH."""
        if self.depth >= MAX_DEPTH:
            raise ExpressionError(f"expression nested too deeply (more than {MAX_DEPTH} levels)",
                                  self.tok.offset, 1, hint=_DEPTH_HINT)
        self.depth += 1
        try:
            return parse_part()
        finally:
            self.depth -= 1

    def conjunction(self) -> Node:
        return self.binary_chain(("and",), self.negation)

    def binary_chain(self, ops, operand) -> Node:
        node = operand()
        while self.at(*ops):
            op = self.take().text
            right = operand()
            node = Binary(*self.span(node, right), op, node, right)
        return node

    def negation(self) -> Node:
        if self.at("not"):
            start = self.take()
            operand = self.nested(self.negation)
            return Unary(start.offset, operand.offset + operand.length - start.offset, "not", operand)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.coalescing()
        node = self.comparison_tail(left)
        if node is not left and (self.at(*COMPARISONS) or self.at("in", "is")):
            raise self.unexpected("comparisons do not chain; combine them with 'and'")
        return node

    def comparison_tail(self, left: Node) -> Node:
        if self.at(*COMPARISONS) or self.at("in"):
            op = self.take().text
        elif self.at("not") and self.tokens[self.pos + 1].text == "in":
            self.pos += 2
            op = "not in"
        elif self.at("is"):
            return self.null_test(left)
        else:
            return left
        right = self.coalescing()
        return Binary(*self.span(left, right), op, left, right)

    def null_test(self, left: Node) -> Node:
        self.take()
        negated = self.at("not")
        if negated:
            self.take()
        end = self.expect("null", "after 'is'" + (" not" if negated else ""))
        return IsNull(left.offset, end.end - left.offset, left, negated)

    def coalescing(self) -> Node:
        return self.binary_chain(("??",), self.additive)

    def additive(self) -> Node:
        return self.binary_chain(("+", "-"), self.multiplicative)

    def multiplicative(self) -> Node:
        return self.binary_chain(("*", "/", "%"), self.unary)

    def unary(self) -> Node:
        if self.at("-"):
            start = self.take()
            operand = self.nested(self.unary)
            if isinstance(operand, Literal) and type(operand.value) in (int, float):
                return Literal(start.offset, operand.offset + operand.length - start.offset, -operand.value)
            return Unary(start.offset, operand.offset + operand.length - start.offset, "-", operand)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while self.at(".", "["):
            if self.take().text == ".":
                name = self.tok
                if name.kind != "name":
                    raise self.unexpected("expected a field name after '.'")
                self.take()
                node = self.member(node, name.value, name.end)
            else:
                index = self.expression()
                end = self.expect("]", "to close the index")
                node = self.member(node, index, end.end)
        return node

    @staticmethod
    def member(target: Node, key, end: int) -> Node:
        if isinstance(key, Literal) and isinstance(key.value, (str, int)) and not isinstance(key.value, bool):
            key = key.value
        if isinstance(target, Field) and not isinstance(key, Node):
            return Field(target.offset, end - target.offset, target.path + (key,))
        index = key if isinstance(key, Node) else Literal(target.offset, 1, key)
        return Index(target.offset, end - target.offset, target, index)

    def primary(self) -> Node:
        token = self.tok
        if token.kind in ("num", "str"):
            self.take()
            return Literal(token.offset, len(token.text), token.value)
        if token.kind == "name":
            return self.name()
        if self.at("("):
            self.take()
            node = self.expression()
            self.expect(")", "to close '('")
            return node
        if self.at("["):
            return self.list_literal()
        raise self.unexpected("expected a value")

    def name(self) -> Node:
        token = self.take()
        quoted = token.text.startswith("`")
        if not quoted and token.text in _CONSTANTS:
            return Literal(token.offset, len(token.text), _CONSTANTS[token.text])
        if not quoted and token.text in KEYWORDS:
            self.pos -= 1
            raise self.unexpected("expected a value")
        if not quoted and self.at("("):
            return self.call(token)
        return Field(token.offset, len(token.text), (token.value,))

    def call(self, name: Token) -> Node:
        self.take()
        args = self.items(")")
        end = self.expect(")", f"to close {name.text}(")
        return Call(name.offset, end.end - name.offset, name.text, len(name.text), tuple(args))

    def list_literal(self) -> Node:
        start = self.take()
        items = self.items("]")
        end = self.expect("]", "to close the list")
        return ListOf(start.offset, end.end - start.offset, tuple(items))

    def items(self, closer: str) -> List[Node]:
        items: List[Node] = []
        while not self.at(closer):
            items.append(self.expression())
            if not self.at(","):
                break
            self.take()
        return items
