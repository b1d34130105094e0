"""The aggregation functions of ``aggregate.compute``, as code templates for a fused fold,
and the generator that fuses a step's aggregations into one ``fold`` (plus ``merge`` and
``result``).

Each aggregation owns one or more slots of a key's accumulator (a list) and says how to start
them, how to fold a value ``x`` in, how to merge two accumulators (session windows), and how
to read the result. Nulls are ignored, as in SQL: ``sum`` of no values is null, ``count(x)``
counts non-null values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from math import isfinite
from typing import Callable, Dict, Tuple

from engine.errors import ConfigError
from engine.operators.codegen import build_function


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


_ADDABLE = ("int", "float", "decimal", "duration")
_LOOSE = ("any", "json", "null")


def _kind(type_name: str) -> str:
    return type_name.split("(", 1)[0]


def check_argument_type(name: str, match, aggregation, expression) -> None:
    """sum and avg need numbers (or durations): known other types are a configuration error."""
    if expression is None or aggregation.name not in ("sum", "avg"):
        return
    kind = _kind(expression.type)
    if kind not in _ADDABLE + _LOOSE:
        raise ConfigError(f"{aggregation.name}() needs numbers, not {kind}", ("compute", name),
                          offset=match.start(2), hint="cast the field to int, float or decimal first")


def _checked_number(x, function):
    """Run-time check of a value of unknown type folded by sum or avg."""
    if x.__class__ not in _NUMBER_CLASSES:
        raise TypeError(f"{function}() of a non-number: {type(x).__name__} {x!r:.40}")


_NUMBER_CLASSES = frozenset({int, float, Decimal, timedelta})


def fold_functions(step_id: str, slots: list):
    """Generate ``fresh`` (a new accumulator: the slots' initial literals, from the table above,
    so a list slot is a new list each time), ``fold``, ``merge`` and ``result`` over the flat
    accumulator list."""
    fold = ["def fold(acc, events):"]
    merge_parts, result_parts, names, index = [], [], [], 0
    body = []
    for name, aggregation, expression in slots:
        slot_names = [f"a{index + i}" for i in range(len(aggregation.init))]
        names += slot_names
        update = aggregation.update
        if aggregation.name == "count" and expression is not None:
            update = "if x is not None: {0} += 1"
        if expression is not None:
            body.append(f"        x = {expression.python}")
            if aggregation.name in ("sum", "avg") and _kind(expression.type) in _LOOSE:
                body.append(f"        if x is not None and x.__class__ not in _numbers: "
                            f"_checked_number(x, {aggregation.name!r})")
        body += ["        " + line for line in update.format(*slot_names).splitlines()]
        if aggregation.name in ("sum", "avg") and _kind(expression.type) in ("float", *_LOOSE):
            # a float sum past 1.8e308 is inf, which JSON cannot carry: the event that made it
            # so is a dead letter (fold is redone one event at a time) and the sum stays finite
            body.append(f"        if {slot_names[0]}.__class__ is float and not _isfinite({slot_names[0]}): "
                        f"raise ValueError('the {aggregation.name} would be beyond the float range')")
        merge_parts += [m.format(**{f"a{i}": f"a[{index + i}]" for i in range(len(slot_names))},
                                 **{f"b{i}": f"b[{index + i}]" for i in range(len(slot_names))})
                        for m in aggregation.merge]
        cells = [f"acc[{index + i}]" for i in range(len(slot_names))]
        result_parts.append(f"{name!r}: " + aggregation.result.format(*cells))
        index += len(slot_names)
    unpack = ", ".join(f"list(acc[{i}])" if _is_list(slots, i) else f"acc[{i}]" for i in range(index))
    fold.append(f"    {', '.join(names)}{',' if index == 1 else ''} = {unpack}{',' if index == 1 else ''}")
    fold += ["    for e in events:", *body, f"    return [{', '.join(names)}]"]
    inits = [init for _, aggregation, _ in slots for init in aggregation.init]
    source = f"def fresh():\n    return [{', '.join(inits)}]\n"
    source += "\n".join(fold) + "\n"
    source += f"def merge(a, b):\n    return [{', '.join(merge_parts)}]\n"
    source += f"def result(acc):\n    return {{{', '.join(result_parts)}}}\n"
    extra = {"list": list, "_numbers": _NUMBER_CLASSES, "_checked_number": _checked_number, "_isfinite": isfinite,
             "float": float, "ValueError": ValueError}
    return tuple(build_function(name, source, step_id, extra) for name in ("fresh", "fold", "merge", "result"))


def _is_list(slots: list, position: int) -> bool:
    index = 0
    for _, aggregation, _ in slots:
        for init in aggregation.init:
            if index == position:
                return init == "[]"
            index += 1
    return False
