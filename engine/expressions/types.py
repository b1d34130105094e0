"""Static types of expression values, and the rules that combine them.

A type is a name: ``null bool int float decimal str timestamp date duration list json any``.
Field types may be parameterised (``decimal(10,2)``); :func:`kind` drops the parameters.
``any`` means "not known before run time": checks involving it are left to run time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Optional

TYPES = ("null", "bool", "int", "float", "decimal", "str", "timestamp", "date", "duration",
         "list", "json", "any")
OPEN = "*"  # as a key of a fields dict: the events may carry other fields, of unknown type
NUMERIC = frozenset({"int", "float", "decimal"})
ORDERED = NUMERIC | {"str", "timestamp", "date", "duration"}
LOOSE = frozenset({"any", "null", "json"})  # compatible with everything until run time

PYTHON_TYPES = {
    "bool": (bool,), "int": (int,), "float": (float,), "decimal": (Decimal,), "str": (str,),
    "timestamp": (datetime,), "date": (date,), "duration": (timedelta,), "list": (list,),
    "json": (dict, list),
}


def kind(type_name: str) -> str:
    base = type_name.split("(", 1)[0]
    return base if base in TYPES else "any"


def type_of_literal(value) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str"}[type(value)]


def comparable(left: str, right: str, ordering: bool) -> bool:
    left, right = kind(left), kind(right)
    if left in LOOSE or right in LOOSE:
        return True
    if ordering and (left not in ORDERED or right not in ORDERED):
        return False
    if left in NUMERIC and right in NUMERIC:
        return True
    return left == right


def arithmetic(op: str, left: str, right: str) -> Optional[str]:
    """The result type of ``left op right``, ``any`` when unknown, None when it is an error."""
    left, right = kind(left), kind(right)
    if left in LOOSE or right in LOOSE:
        return "any"
    pair = {left, right}
    if pair <= NUMERIC:
        return _numeric(op, pair)
    if op == "+" and pair == {"str"}:
        return "str"
    return _temporal(op, left, right)


def _numeric(op: str, pair: set) -> Optional[str]:
    if pair == {"float", "decimal"}:
        return None
    if op == "/" and pair == {"int"}:
        return "float"
    for wide in ("float", "decimal"):
        if wide in pair:
            return wide
    return "int"


_TEMPORAL = {
    ("-", "timestamp", "timestamp"): "duration", ("-", "date", "date"): "duration",
    ("+", "timestamp", "duration"): "timestamp", ("-", "timestamp", "duration"): "timestamp",
    ("+", "duration", "timestamp"): "timestamp", ("+", "date", "duration"): "date",
    ("-", "date", "duration"): "date", ("+", "duration", "duration"): "duration",
    ("-", "duration", "duration"): "duration", ("*", "duration", "int"): "duration",
    ("*", "int", "duration"): "duration", ("*", "duration", "float"): "duration",
    ("/", "duration", "int"): "duration", ("/", "duration", "duration"): "float",
}


def _temporal(op: str, left: str, right: str) -> Optional[str]:
    return _TEMPORAL.get((op, left, right))


def unify(left: str, right: str) -> str:
    """The type of a value that is either ``left`` or ``right`` (``??``, ``if``)."""
    if kind(left) == "null":
        return right
    if kind(right) == "null" or left == right:
        return left
    if {kind(left), kind(right)} <= NUMERIC:
        return arithmetic("+", left, right) or "any"
    return left if kind(left) == kind(right) else "any"


def arithmetic_hint(left: str, right: str) -> Optional[str]:
    return _hint(left, right, {"float", "decimal"}, "convert one side: decimal(x) or float(x)",
                 "to join text use concat(a, b) or str(x)")


def compare_hint(left: str, right: str) -> Optional[str]:
    return _hint(left, right, {"timestamp", "date"}, "convert the timestamp with date(t)",
                 "convert with str(x), or the text with int(...), timestamp(...), ...")


def _hint(left: str, right: str, pair: set, for_pair: str, for_text: str) -> Optional[str]:
    kinds = {kind(left), kind(right)}
    if kinds == pair:
        return for_pair
    return for_text if "str" in kinds else None
