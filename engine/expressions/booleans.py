"""JSON's true and false are no numbers, also where a field's type is known only per event.

A typed field refuses them when the topology loads (``cannot apply '+' to bool and int``,
``cannot compare bool with int``). An untyped one is whatever the event holds, and Python's
``bool`` is an ``int``: ``True + 1`` is 2, ``True == 1`` and ``True > 0`` are true. So the
generated code tests the operands that may hold a boolean at run time (an untyped operand next
to a number or another untyped one) and gives JSON's answers: ``true == 1`` is false (a boolean
equals only a boolean), ``+ - /`` and ``< <= > >=`` with a boolean and a number fail that event
(a dead letter with the reason). Each test is one type test on the usual path, written out (no
call); ``* %`` already check their untyped operands (``_num``).
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from engine.expressions.inline import type_tested
from engine.expressions.runtime import constant
from engine.expressions.types import LOOSE, NUMERIC

Check = Optional[Tuple[str, str]]  # (the run-time function, the operator it names), or no check
_ORDER = ("<", "<=", ">", ">=")


def operand_checks(kinds: List[str], ops: List[str]) -> List[Check]:
    """Per operand of an arithmetic chain (``kinds``: their static kinds, ``ops``: the
    operators between them), the check its untyped value needs: ``_num`` next to ``*`` or ``%``
    (a number or a duration: Python would repeat a text, ``'ab' * 10**9``, or format one),
    else ``_no_bool`` (not a boolean) unless a text is in the chain (Python refuses ``'a' +
    True`` itself, and a text chain stays the text or an error)."""
    texts = "str" in kinds
    checks: List[Check] = []
    for index, kind in enumerate(kinds):
        near = ops[max(0, index - 1):index + 1]
        if kind not in LOOSE:
            checks.append(None)
        elif any(op in "*%" for op in near):
            checks.append(("_num", ops[max(0, index - 1)]))
        else:
            checks.append(None if texts else ("_no_bool", ops[max(0, index - 1)]))
    return checks


def checked_operand(name: str, check: Check, temp: Callable[[], str]) -> str:
    """The operand ``name`` (source) with its ``check``, evaluated once."""
    if check is None:
        return name
    function, op = check
    if function == "_num":
        return f"_num({name}, {op!r})"
    return type_tested(name, constant(bool), lambda t: f"_no_bool({t}, {op!r})", temp, negate=True)


def comparison(op: str, left_kind: str, right_kind: str) -> Callable[[str, str], str]:
    """The Python test of ``a op b`` for operands of these static kinds (already checked as
    comparable): Python's operator, with a boolean's type tested where an untyped operand meets
    a number or another untyped one (the test runs only when Python's answer would be wrong:
    after an equality that held, before an ordering)."""
    others = NUMERIC | LOOSE | ({"bool"} if op in ("==", "!=") else set())  # a number may equal a boolean
    at_risk = (left_kind in LOOSE and right_kind in others, right_kind in LOOSE and left_kind in others)
    if not any(at_risk):
        return lambda a, b: f"({a} {op} {b})"
    bool_type = constant(bool)
    if op == "==":  # the type test runs only for equal values: both booleans, or neither
        return lambda a, b: f"({a} == {b} and (_type({a}) is {bool_type}) is (_type({b}) is {bool_type}))"
    if op == "!=":
        return lambda a, b: f"({a} != {b} or (_type({a}) is {bool_type}) is not (_type({b}) is {bool_type}))"
    assert op in _ORDER, op

    def ordered(a: str, b: str) -> str:
        tests = [f"_type({side}) is not {bool_type}" for side, risk in zip((a, b), at_risk, strict=True) if risk]
        return f"({a} {op} {b} if {' and '.join(tests)} else _no_order({a}, {b}, {op!r}))"

    return ordered
