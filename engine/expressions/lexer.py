"""Split an expression into tokens: numbers, strings, names, operators."""

from __future__ import annotations

import re
from typing import Any, List

from engine.expressions.errors import ExpressionError
from engine.frozen import Frozen, set_fields

KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<num>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<quoted>`[^`]*`)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>\?\?|==|!=|<=|>=|&&|\|\||[-+*/%<>()\[\],.!=])""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
_MAX_DIGITS = 4300  # Python's limit for int(text)
_ALIASES = {"&&": "use 'and'", "||": "use 'or'", "!": "use 'not' (or '!=' to compare)", "=": "use '==' to compare"}


class Token(Frozen):  # a frozen record (engine/frozen.py)
    __slots__ = ("kind", "text", "value", "offset")
    kind: str  # num, str, name, op, end
    text: str
    value: Any
    offset: int

    def __init__(self, kind: str, text: str, value: Any, offset: int) -> None:
        set_fields(self, kind, text, value, offset)

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


def tokenize(text: str) -> List[Token]:
    tokens: List[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _bad_character(text, pos)
        kind, raw = match.lastgroup, match.group()
        assert kind is not None, "every alternative of the token pattern is a named group"
        if kind != "space":
            tokens.append(_token(kind, raw, pos))
        pos = match.end()
    tokens.append(Token("end", "", None, len(text)))
    return tokens


def _token(kind: str, raw: str, pos: int) -> Token:
    if kind == "num":
        if raw.isdigit():
            if len(raw) > _MAX_DIGITS:  # int() would refuse it with advice about sys.set_int_max_str_digits
                raise ExpressionError(f"number too long ({len(raw)} digits, at most {_MAX_DIGITS})", pos, len(raw))
            return Token("num", raw, int(raw), pos)
        number = float(raw)
        if number == float("inf"):  # 1e999: Python would print it as a bare name, 'inf'
            raise ExpressionError(f"number out of range: {raw:.40} is beyond the float range (about 1.8e308)",
                                  pos, len(raw), hint="for a larger exact number write decimal('1e999')")
        return Token("num", raw, number, pos)
    if kind == "str":
        return Token("str", raw, _unescape(raw, pos), pos)
    if kind == "quoted":
        if len(raw) == 2:
            raise ExpressionError("empty quoted field name", pos, 2)
        return Token("name", raw, raw[1:-1], pos)
    if kind == "op" and raw in _ALIASES:
        raise ExpressionError(f"unexpected '{raw}'", pos, len(raw), hint=_ALIASES[raw])
    return Token(kind, raw, raw, pos)


def _unescape(raw: str, pos: int) -> str:
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ExpressionError(f"unknown escape '\\{nxt}' in string", pos + 1 + i, 2,
                                      hint="escapes: \\n \\t \\r \\\\ \\' \\\"")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _bad_character(text: str, pos: int) -> ExpressionError:
    char = text[pos]
    if char in "'\"":
        return ExpressionError("unterminated string", pos, len(text) - pos, hint=f"close it with {char}")
    if char == "`":
        return ExpressionError("unterminated quoted field name", pos, len(text) - pos, hint="close it with `")
    return ExpressionError(f"unexpected character '{char}'", pos, 1)
