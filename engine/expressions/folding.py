"""Values known when the topology loads: literals, literals coerced to the other side's
type, and calls of functions on literals evaluated once ("folded").

Everything here runs on text from the topology file, so it is bounded like per-event work:
functions are the same bounded implementations (a literal regular expression runs on RE2,
linear in the text), and a folded result must be a value the generated code can hold: a
finite float, an int Python can print, a text or list of at most ``MAX_FOLDED`` items (a
bigger one would be rebuilt from it by the next fold, and kept in memory by every step).
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any, List

from engine import values
from engine.expressions import regex, types
from engine.expressions.errors import ExpressionError
from engine.expressions.functions import Function
from engine.expressions.runtime import constant
from engine.expressions.syntax import Call, Node
from engine.frozen import Frozen, set_fields

NO_VALUE = object()
MAX_FOLDED = 1 << 20  # characters of a text, or items of a list, computed at load time
MAX_DIGITS = 4300  # of a folded int: Python's limit for int <-> text (a sink could not write it)
_REGEX_USE = {"matches": "test", "extract": "extract"}  # functions that run their last argument on RE2


class Code(Frozen):  # a frozen record (engine/frozen.py)
    __slots__ = ("src", "type", "nullable", "value")
    src: str
    type: str
    nullable: bool
    value: Any  # the value, when known at load time

    def __init__(self, src: str, type: str, nullable: bool, value: Any = NO_VALUE) -> None:  # noqa: A002
        set_fields(self, src, type, nullable, value)

    @property
    def known(self) -> bool:
        return self.value is not NO_VALUE


def literal_code(value) -> Code:
    """The code of a value known at load time. Floats that are not finite and ints too long
    to print (repr of more than 4,300 digits raises) become named constants, never source
    text: ``repr(1e999)`` is ``inf``, a name the generated code cannot resolve."""
    plain = type(value) in (type(None), bool, int, float, str)
    src = _repr(value) if plain else None
    if src is None:
        src = constant(value)
    kind = types.type_of_literal(value) if plain else _kind_of(value)
    return Code(src, kind, value is None, value)


def _repr(value):
    if type(value) is float and not math.isfinite(value):
        return None
    if type(value) is int and value.bit_length() > 14_000:  # about 4,200 digits: repr may refuse it
        return None
    return repr(value)


def _kind_of(value) -> str:
    for name, pythons in types.PYTHON_TYPES.items():
        if type(value) in pythons:
            return name
    return "any"


def coerce(code: Code, target: str, node: Node) -> Code:
    """A literal next to a typed value takes its type: '2024-01-01' next to a timestamp
    becomes a timestamp, 0.1 next to a decimal becomes Decimal('0.1') (exact)."""
    target = types.kind(target)
    value = code.value
    try:
        if target == "timestamp" and type(value) is str:
            return literal_code(values.parse_timestamp(value))
        if target == "date" and type(value) is str:
            return literal_code(date.fromisoformat(value))
        if target == "decimal" and type(value) in (float, int) and type(value) is not bool:
            return literal_code(Decimal(repr(value)))
    except (ValueError, OverflowError) as exc:  # OverflowError: '9999-12-31T23:59:59-01:00'
        raise ExpressionError(f"{value!r:.40} is not a valid {target}: {_one_line(exc)}", node.offset,
                              node.length) from None
    return code


def bindable(function: Function, args: List[Code]) -> bool:
    """Whether ``function`` is called with all its arguments, the last a non-null literal."""
    return (function.bind is not None and len(args) == len(function.params)
            and args[-1].known and args[-1].value is not None)


def fold(node: Call, function: Function, args: List[Code]) -> Code:
    """Evaluate now: a call on literals fails at load time, not on every event."""
    if function.strict and any(a.value is None for a in args):
        return literal_code(None)
    values_ = [a.value for a in args]
    try:
        if function.name in _REGEX_USE:  # RE2 is linear, but a big pattern on a big text still takes seconds
            regex.check_literal_work(values_[0], values_[1], _REGEX_USE[function.name])
        if bindable(function, args) and function.bind is not None:  # as it will run: e.g. a literal regex, on RE2
            result = function.bind(values_[-1])(*values_[:-1])
        else:
            result = function.impl(*values_)
    except Exception as exc:  # noqa: BLE001 - whatever a literal call raises is a load-time error, never a crash
        raise ExpressionError(f"{node.name}(): {_one_line(exc)}", node.offset, node.length) from None
    problem = _unfit(result)
    if problem:
        raise ExpressionError(f"{node.name}(): {problem}", node.offset, node.length)
    return literal_code(result)


def _unfit(result) -> str:
    """Why a folded value cannot be a constant of the generated code ('' when it can)."""
    if type(result) is float and not math.isfinite(result):
        return f"the result is {result}: out of the float range"
    if type(result) is int and result.bit_length() > 14_000 and abs(result) >= 10 ** MAX_DIGITS:
        return f"the result has more than {MAX_DIGITS} digits"
    if type(result) in (str, list) and len(result) > MAX_FOLDED:
        return (f"the result would have {len(result)} {'characters' if type(result) is str else 'items'} "
                f"(at most {MAX_FOLDED} for a value computed from literals)")
    return ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
