"""What generated expression code may reference: ``NAMESPACE``, and nothing else.

Generated code runs with ``NAMESPACE`` as its globals and no builtins, so user text can
reach only the documented functions (``_f_<name>``), the helpers below, and constants the
compiler made itself (``_k<n>``, e.g. a parsed timestamp literal or a compiled set).
"""

from __future__ import annotations

import decimal
import itertools
import operator
import threading
from datetime import timedelta
from decimal import Decimal
from math import isfinite
from typing import Any, Dict

from engine.expressions.functions import FUNCTIONS
from engine.expressions.types import PYTHON_TYPES
from engine.values import to_str

_NUMBERS = (int, float, Decimal)


def _path(event, keys):
    """The value at a nested path; null when any step is missing or of the wrong shape."""
    node = event
    for key in keys:
        if type(key) is str:
            node = node.get(key) if type(node) is dict else None
        else:
            node = node[key] if type(node) is list and -len(node) <= key < len(node) else None
        if node is None:
            return None
    return node


def _index(container, key):
    """``x[key]`` for computed containers and keys, null-safe like a field path."""
    if type(container) is dict:
        return container.get(key)
    if type(container) in (list, str) and type(key) is int:
        return container[key] if -len(container) <= key < len(container) else None
    raise TypeError(f"cannot index {type(container).__name__} with {type(key).__name__}")


def _in(item, container):
    if type(container) not in (list, str, dict):
        raise TypeError(f"'in' needs a list or a string on the right, got {type(container).__name__}")
    return item in container and (type(container) is not list or _json_equal_in(item, container))


def _member(item, items: frozenset) -> bool:
    """``item in [literals]`` (their frozenset) for an item whose type is known only per event:
    a list or an object there is unhashable, and equals none of the literals (scalars)."""
    try:
        return item in items and _json_equal_in(item, items)
    except TypeError:
        return False


def _json_equal_in(item, items) -> bool:
    """Whether ``item``, found in ``items`` by Python's ``==``, equals one of them as JSON
    values do: a boolean only a boolean (Python's True is 1). Looks again only for a boolean,
    or a number equal to 0 or 1 (engine/expressions/booleans.py)."""
    if type(item) is not bool and (type(item) not in _NUMBERS or (item != 0 and item != 1)):
        return True
    return any(other == item and (type(other) is bool) is (type(item) is bool) for other in items)


def _no_bool(value, op):
    """An untyped operand of ``+ - /`` that is a boolean (engine/expressions/booleans.py)."""
    raise TypeError(f"'{op}' needs numbers, got bool {_brief(value)}")


def _no_order(left, right, op):
    """An ordering of a boolean with a number (engine/expressions/booleans.py)."""
    raise TypeError(f"cannot compare {type(left).__name__} {_brief(left)} with {type(right).__name__} "
                    f"{_brief(right)} ('{op}')")


def _check(value, kinds, where):
    """``value`` if it has one of the engine types ``kinds``, else a clear TypeError."""
    if value is None:
        return value
    vtype = type(value)
    for name in kinds:
        if vtype in PYTHON_TYPES[name]:
            return value
    raise TypeError(f"{where} needs {' or '.join(sorted(kinds))}, got {vtype.__name__} {_brief(value)}")


def _bool(value):
    if value is None or type(value) is bool:
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__} {_brief(value)}")


def _brief(value) -> str:
    """At most 40 characters of ``repr(value)``, for error messages; never fails itself
    (repr of an int of more than 4300 digits raises ValueError)."""
    if type(value) is int and value.bit_length() > 128:
        return f"<int of {value.bit_length()} bits>"
    try:
        return f"{value!r:.40}"
    except Exception:  # noqa: BLE001 - e.g. RecursionError on a deeply nested list
        return f"<{type(value).__name__}>"


def _num(value, op):
    """An operand of ``*`` or ``%`` whose type is known only per event: a number or a duration.
    Python would repeat a text or a list (``'ab' * 10**9``) or format a text (``'%2000000000d' % 1``)."""
    vtype = type(value)
    if vtype is int or vtype is float or vtype is Decimal or vtype is timedelta:
        return value
    raise TypeError(f"'{op}' needs numbers, got {vtype.__name__} {_brief(value)}")


def _finite(value):
    """A float sum, difference or product that overflowed (1e308 * 10 is inf, inf - inf nan)
    is an error of that event: JSON has no such numbers, and a sink would write null."""
    if type(value) is float and not isfinite(value):
        raise ValueError(f"the result is {value}: out of the float range")
    return value


# Decimal arithmetic (a chain whose type is decimal): exact, or an error that says why. Python's
# operators round to 28 digits without a word (decimal(38,2) + 0.01 lost cents), refuse
# decimal('1e30') % 7 and fail with "[<class 'decimal.DivisionByZero'>]"; '/' rounds to 28 digits.
_TRAPS = [decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow]
_EXACT = decimal.Context(prec=4300, traps=[*_TRAPS, decimal.Inexact])  # the default range: at most 1E+999999
_DIVIDE = decimal.Context(prec=decimal.DefaultContext.prec, traps=_TRAPS)
_DECIMAL_OPS = {"+": _EXACT.add, "-": _EXACT.subtract, "*": _EXACT.multiply, "/": _DIVIDE.divide, "%": _EXACT.remainder}
_RANGE = decimal.Context(prec=_EXACT.prec, traps=[decimal.Overflow])
_RANGE_OPS = {"+": _RANGE.add, "-": _RANGE.subtract, "*": _RANGE.multiply, "/": _RANGE.divide, "%": _RANGE.remainder}
_INT_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}


def _decimal_chain(operands, ops):
    """``operands[0] ops[0] operands[1] ...`` left to right; a step on two ints as Python's."""
    value = operands[0]
    for op, operand in zip(ops, operands[1:], strict=True):
        try:
            if type(value) is int and type(operand) is int:
                value = _INT_OPS[op](value, operand)
            else:
                value = _DECIMAL_OPS[op](value, operand)
        except (decimal.DecimalException, ZeroDivisionError) as exc:
            raise ValueError(_decimal_problem(exc, op, value, operand)) from None
    return value


def _decimal_problem(exc: ArithmeticError, op: str, left, right) -> str:
    if op in "/%" and right == 0:
        return "division by zero" if op == "/" else "modulo by zero"
    try:  # the exact result needs more digits, or leaves the range (both signal Inexact)
        _RANGE_OPS[op](left, right)
    except decimal.Overflow:
        return f"{_brief(left)} {op} {_brief(right)} is out of the decimal range (at most 1E+{_EXACT.Emax})"
    except ArithmeticError:
        pass
    return f"the exact result of {_brief(left)} {op} {_brief(right)} has more than {_EXACT.prec} digits"


def _text(value) -> str:
    """An argument of ``concat`` written out (engine/expressions/inline.py) that is not a text."""
    return "" if value is None else to_str(value)


NAMESPACE: Dict[str, Any] = {
    "__builtins__": {},
    "_type": type, "_dict": dict, "_str": str, "_path": _path, "_index": _index, "_in": _in, "_member": _member,
    "_no_bool": _no_bool, "_no_order": _no_order, "_check": _check,
    "_bool": _bool, "_finite": _finite, "_num": _num, "_text": _text, "_decimal_chain": _decimal_chain,
    **{f"_f_{name}": function.impl for name, function in FUNCTIONS.items()},
}

_constants: Dict[Any, str] = {}
_counter = itertools.count()
_lock = threading.Lock()


def constant(value) -> str:
    """The name under which ``value`` (made by the compiler, not by user text) is in NAMESPACE."""
    key = (type(value), value) if hashable(value) else id(value)
    with _lock:
        name = _constants.get(key)
        if name is None:
            name = _constants[key] = f"_k{next(_counter)}"
            NAMESPACE[name] = value
    return name


def hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
