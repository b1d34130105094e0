"""The aggregation functions of ``aggregate.compute``, as code templates for a fused fold.

Each aggregation owns one or more slots of a key's accumulator (a list) and says how to start
them, how to fold a value ``x`` in, how to merge two accumulators (session windows), and how
to read the result. Nulls are ignored, as in SQL: ``sum`` of no values is null, ``count(x)``
counts non-null values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Tuple


@dataclass(frozen=True)
class Aggregation:
    name: str
    takes_argument: bool
    init: Tuple[str, ...]  # initial value of each slot (Python literal)
    update: str  # statement(s) over x (the value) and {0}, {1} (the slots)
    merge: Tuple[str, ...]  # expression per slot over a{i} (earlier) and b{i} (later)
    result: str  # expression over the slots
    result_type: Callable[[str], str]
    doc: str


def _same(arg_type: str) -> str:
    return arg_type


def _average_type(arg_type: str) -> str:
    if arg_type.startswith("decimal") or arg_type == "duration":
        return "decimal" if arg_type.startswith("decimal") else "duration"
    return "float" if arg_type in ("int", "float") else "any"


def _sum_type(arg_type: str) -> str:
    return "decimal" if arg_type.startswith("decimal") else arg_type


_NONE_ADD = "({a} if {b} is None else {b} if {a} is None else {a} + {b})"

AGGREGATIONS: Dict[str, Aggregation] = {a.name: a for a in (
    Aggregation("count", False, ("0",), "{0} += 1", ("{a0} + {b0}",), "{0}", lambda _: "int",
                "count() counts events; count(x) the events where x is not null"),
    Aggregation("sum", True, ("None",), "if x is not None: {0} = x if {0} is None else {0} + x",
                (_NONE_ADD.format(a="{a0}", b="{b0}"),), "{0}", _sum_type, "sum of the non-null values"),
    Aggregation("min", True, ("None",), "if x is not None and ({0} is None or x < {0}): {0} = x",
                ("({a0} if {b0} is None or ({a0} is not None and {a0} <= {b0}) else {b0})",), "{0}", _same,
                "smallest non-null value"),
    Aggregation("max", True, ("None",), "if x is not None and ({0} is None or x > {0}): {0} = x",
                ("({a0} if {b0} is None or ({a0} is not None and {a0} >= {b0}) else {b0})",), "{0}", _same,
                "largest non-null value"),
    Aggregation("avg", True, ("None", "0"), "if x is not None:\n    {0} = x if {0} is None else {0} + x\n    {1} += 1",
                (_NONE_ADD.format(a="{a0}", b="{b0}"), "{a1} + {b1}"), "(None if {1} == 0 else {0} / {1})",
                _average_type, "mean of the non-null values (float; decimal for decimals)"),
    Aggregation("first", True, ("None",), "if {0} is None and x is not None: {0} = x",
                ("({a0} if {a0} is not None else {b0})",), "{0}", _same, "first non-null value"),
    Aggregation("last", True, ("None",), "if x is not None: {0} = x",
                ("({b0} if {b0} is not None else {a0})",), "{0}", _same, "last non-null value"),
    Aggregation("collect", True, ("[]",), "if x is not None: {0}.append(x)", ("{a0} + {b0}",), "list({0})",
                lambda _: "json", "list of the non-null values, in arrival order"),
)}
