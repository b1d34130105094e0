"""The aggregation functions of ``aggregate.compute``, as code templates for a fused fold,
and the generator that fuses a step's aggregations into one ``fold`` (plus ``merge`` and
``result``).

Each aggregation owns one or more slots of a key's accumulator (a list) and says how to start
them, how to fold a value ``x`` in, how to merge two accumulators (session windows), and how
to read the result. Nulls are ignored, as in SQL: ``sum`` of no values is null, ``count(x)``
counts non-null values.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from functools import reduce
from math import isfinite
from operator import itemgetter
from typing import Callable, Dict, List, Optional, Tuple

from engine.errors import ConfigError
from engine.operators.codegen import build_function
from engine.operators.dead import describe
from engine.values import NUMERIC_SCALE_DIGITS, NUMERIC_WHOLE_DIGITS


@dataclass(frozen=True)
class Aggregation:
    name: str
    takes_argument: bool
    init: Tuple[str, ...]  # initial value of each slot (Python literal)
    update: str  # statement(s) over a non-null x (the value) and {0}, {1} (the slots)
    merge: Tuple[str, ...]  # expression per slot over a{i} (earlier) and b{i} (later)
    result: str  # expression over the slots
    result_type: Callable[[str], str]
    doc: str
    counts: Tuple[int, ...] = ()  # slots that count the non-null values (one more each, not in update)


def _same(arg_type: str) -> str:
    return arg_type


def _average_type(arg_type: str) -> str:
    if arg_type.startswith("decimal") or arg_type == "duration":
        return "decimal" if arg_type.startswith("decimal") else "duration"
    return "float" if arg_type in ("int", "float") else "any"


def _sum_type(arg_type: str) -> str:
    return "decimal" if arg_type.startswith("decimal") else arg_type


_NONE_ADD = "({a} if {b} is None else {b} if {a} is None else _plus({a}, {b}))"

AGGREGATIONS: Dict[str, Aggregation] = {a.name: a for a in (
    Aggregation("count", False, ("0",), "", ("{a0} + {b0}",), "{0}", lambda _: "int",
                "count() counts events; count(x) the events where x is not null", counts=(0,)),
    Aggregation("sum", True, ("None",), "{0} = x if {0} is None else {0} + x",
                (_NONE_ADD.format(a="{a0}", b="{b0}"),), "{0}", _sum_type, "sum of the non-null values"),
    Aggregation("min", True, ("None",), "if x != x: _unordered(x, 'min')\nif {0} is None or x < {0}: {0} = x",
                ("({a0} if {b0} is None or ({a0} is not None and {a0} <= {b0}) else {b0})",), "{0}", _same,
                "smallest non-null value"),
    Aggregation("max", True, ("None",), "if x != x: _unordered(x, 'max')\nif {0} is None or x > {0}: {0} = x",
                ("({a0} if {b0} is None or ({a0} is not None and {a0} >= {b0}) else {b0})",), "{0}", _same,
                "largest non-null value"),
    Aggregation("avg", True, ("None", "0"), "{0} = x if {0} is None else {0} + x",
                (_NONE_ADD.format(a="{a0}", b="{b0}"), "{a1} + {b1}"), "(None if {1} == 0 else {0} / {1})",
                _average_type, "mean of the non-null values (float; decimal for decimals)", counts=(1,)),
    Aggregation("first", True, ("None",), "if {0} is None: {0} = x",
                ("({a0} if {a0} is not None else {b0})",), "{0}", _same, "first non-null value"),
    Aggregation("last", True, ("None",), "{0} = x",
                ("({b0} if {b0} is not None else {a0})",), "{0}", _same, "last non-null value"),
    Aggregation("collect", True, ("[]",), "{0}.append(x)", ("{a0} + {b0}",), "list({0})",
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


def reason(exc: BaseException) -> str:
    """The dead letter's reason for a failed fold or merge: decimal signals in words (their own
    text is a list of classes; only the exact sum's context traps Inexact), else ``describe``."""
    if isinstance(exc, Overflow):  # (of the sum, or of the argument's own arithmetic; an Inexact too)
        return "a decimal beyond the largest, 1E+999999 (overflow)"
    if isinstance(exc, Inexact):
        return f"the sum would need more than {EXACT_DIGITS} digits to stay exact"
    return describe(exc)


def _beyond_floats(x, function):
    """Run-time check of an integer folded by avg: the mean of values within the float range is
    within it, so its division in ``result`` never overflows (it would have raised when the
    window was emitted, losing it and every result of the key after it)."""
    raise ValueError(f"{function}() of an integer beyond the float range (about 1.8e308): "
                     "the mean would not be a float")


def _unordered(x, function):
    """min and max of NaN: it compares false with everything, so the result would depend on the
    order of the values (and a float NaN cannot be written as JSON)."""
    raise ValueError(f"{function}() of {x!r:.40}: not a number, it has no order")


# Decimals are added without rounding (the default context keeps 28 digits: a decimal(38,10)
# sum, or 20-digit amounts with cents, would be rounded); avg's division keeps the default.
# Exact, but not of any width: a JSON source reads 1e-999999999 as that Decimal, and 1 plus it
# is a billion digits (gigabytes, and as much again to write it). A sum wider than PostgreSQL's
# numeric, the widest column a sink has (131072 digits before the point, 16383 after), raises
# Inexact (what the precision would round off): that event is a dead letter (see `reason`).
EXACT_DIGITS = NUMERIC_WHOLE_DIGITS + NUMERIC_SCALE_DIGITS
_exact_add = Context(prec=EXACT_DIGITS, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact]).add


def _plus(a, b):
    """``a + b``, exact when either is a Decimal (a session merge of sum or avg slots)."""
    return _exact_add(a, b) if a.__class__ is Decimal or b.__class__ is Decimal else a + b


def _exact_sum(values, start):
    """``sum(values, start)`` of Decimals, without rounding (raises as ``+`` would on a non-number)."""
    return reduce(_exact_add, values, start)


# sum's update of a slot by a value that may be a Decimal: + unless either is one
_EXACT_UPDATE = ("{0} = x if {0} is None else {0} + x if {0}.__class__ is not _Decimal and x.__class__ is not "
                 "_Decimal else _exact_add({0}, x)")
_NUMBER_CLASSES = frozenset({int, float, Decimal, timedelta})
_FLOATS_HIGH = int(sys.float_info.max)  # the float range, as integers: compared exactly with any integer
_FLOATS_LOW = -_FLOATS_HIGH
_NAMES = {"list": list, "len": len, "_numbers": _NUMBER_CLASSES, "_checked_number": _checked_number,
          "_isfinite": isfinite, "float": float, "ValueError": ValueError,  # what the generated folds use
          "_Decimal": Decimal, "_sum": _exact_sum, "_map": map, "_item": itemgetter, "_plus": _plus,
          "_exact_add": _exact_add, "_unordered": _unordered,
          "_int": int, "_FLOATS_LOW": _FLOATS_LOW, "_FLOATS_HIGH": _FLOATS_HIGH, "_beyond_floats": _beyond_floats}


def fold_functions(step_id: str, slots: list):
    """Generate ``fresh`` (a new accumulator: the slots' initial literals, from the table above,
    so a list slot is a new list each time), ``fold``, ``fold_exact``, ``merge`` and ``result``
    over the flat accumulator list (``fold_many`` generates the fold of several accumulators).

    ``fold_exact`` checks each event as it is folded in (the reference: its exceptions are the
    dead letters' reasons). ``fold`` is the quick form for a list of events: each argument is read
    once per event (a plain field read by several aggregations, once) and the float range is
    checked once, after the loop. It raises exactly when ``fold_exact`` would (reads are pure, a
    float sum that is not finite stays so), possibly with another reason: the caller then redoes
    the events one by one with ``fold_exact``."""
    source = FoldSource(slots)
    return tuple(build_function(name, source.text(), step_id, _NAMES)
                 for name in ("fresh", "fold", "fold_exact", "merge", "result"))


def strict_fold(step_id: str, slots: list) -> Optional[Callable]:
    """``fold`` with its plain field reads as ``e[name]`` (the usual events have every field):
    the same accumulators, or KeyError for an event without one (``fold`` then decides). None
    when no argument is a plain field read."""
    source = FoldSource(slots)
    if not any(_GET.match(arg.python) for arg in source.args.values()):
        return None
    return build_function("fold", source.quick(None, strict=True), step_id, _NAMES)


def fold_many(step_id: str, slots: list, windows: int):
    """``fold_many(accumulators, events)``: the quick ``fold`` of the same events into each of
    ``windows`` accumulators (the windows of a sliding period), each argument read once per
    event; a list of the new accumulators. Raises when a ``fold`` of one of them would."""
    return build_function("fold_many", FoldSource(slots).quick(windows), step_id, _NAMES)


class FoldSource:
    """The generated source. Each aggregation gives its argument read, run-time checks, the
    update of its slots (``a0``, ``a1``, ...) by a non-null value ``x``, the slots that count
    non-null values, and a float range check. The quick folds group the aggregations by
    argument: one read and one null test per event, the counting slots counted once per
    argument (``count()``: once per list) and added after the loop, as are the range checks."""

    def __init__(self, slots: list) -> None:
        self.slots = slots
        self.args: Dict[str, _Argument] = {}  # variable -> its read, checks, updates, counts
        self.per_event: List[str] = []  # the slots of count(): one more per event
        self.exact: List[str] = []  # the body of fold_exact
        self.finite: List[str] = []  # float range checks (per accumulator)
        self.names: List[str] = []
        self.merge_parts: List[str] = []
        self.result_parts: List[str] = []
        plain: Dict[str, str] = {}  # plain field read -> its variable
        for name, aggregation, expression in slots:
            index = len(self.names)
            slot_names = [f"a{index + i}" for i in range(len(aggregation.init))]
            self.names += slot_names
            update = aggregation.update
            if aggregation.name in ("sum", "avg") and _kind(expression.type) not in ("int", "float", "duration"):
                update = _EXACT_UPDATE  # it may be a Decimal
            present = update.format(*slot_names).splitlines()
            counted = [slot_names[i] for i in aggregation.counts]
            if expression is None:  # count()
                self.per_event += counted
                self.exact += [f"{slot} += 1" for slot in counted]
            else:
                check = []
                if aggregation.name in ("sum", "avg") and _kind(expression.type) in _LOOSE:
                    check = [f"if x.__class__ not in _numbers: _checked_number(x, {aggregation.name!r})"]
                if aggregation.name == "avg" and _kind(expression.type) in ("int", *_LOOSE):  # see _beyond_floats
                    is_int = "" if _kind(expression.type) == "int" else "x.__class__ is _int and "
                    check.append(f"if {is_int}not _FLOATS_LOW <= x <= _FLOATS_HIGH: _beyond_floats(x, 'avg')")
                self.exact += [f"x = {expression.python}", "if x is not None:",
                               *("    " + line for line in check + present + [f"{c} += 1" for c in counted])]
                variable = plain.get(expression.python)
                if variable is None:
                    variable = f"x{index}"
                    if _PLAIN_READ.match(expression.python):
                        plain[expression.python] = variable
                    self.args[variable] = _Argument(expression.python)
                argument = self.args[variable]
                argument.checks += [_rename(line, variable) for line in check if line not in argument.checks]
                argument.present += [_rename(line, variable) for line in present]
                argument.counted += counted
            if aggregation.name in ("sum", "avg") and _kind(expression.type) in ("float", *_LOOSE):
                # a float sum past 1.8e308 is inf, which JSON cannot carry: the event that made it
                # so is a dead letter (fold is redone one event at a time) and the sum stays finite
                finite = (f"if {slot_names[0]}.__class__ is float and not _isfinite({slot_names[0]}): "
                          f"raise ValueError('the {aggregation.name} would be beyond the float range')")
                self.exact.append(finite)
                self.finite.append(finite)
            self.merge_parts += [m.format(**{f"a{i}": f"a[{index + i}]" for i in range(len(slot_names))},
                                          **{f"b{i}": f"b[{index + i}]" for i in range(len(slot_names))})
                                 for m in aggregation.merge]
            cells = [f"acc[{index + i}]" for i in range(len(slot_names))]
            self.result_parts.append(f"{name!r}: " + aggregation.result.format(*cells))

    def text(self) -> str:
        inits = [init for _, aggregation, _ in self.slots for init in aggregation.init]
        exact = ["def fold_exact(acc, events):", self._unpack("acc", ""), "    for e in events:",
                 *("        " + line for line in self.exact), f"    return [{', '.join(self.names)}]"]
        return (f"def fresh():\n    return [{', '.join(inits)}]\n" + "\n".join(exact) + "\n"
                + self.quick(None)
                + f"def merge(a, b):\n    return [{', '.join(self.merge_parts)}]\n"
                + f"def result(acc):\n    return {{{', '.join(self.result_parts)}}}\n")

    def quick(self, windows: Optional[int], strict: bool = False) -> str:
        """``fold(acc, events)`` (``windows`` None) or ``fold_many(accs, events)``; ``strict``:
        plain field reads as ``e[name]``."""
        suffixes = [""] if windows is None else [f"_{w}" for w in range(windows)]
        if windows is None:
            lines = ["def fold(acc, events):", self._unpack("acc", "")]
        else:
            lines = ["def fold_many(accs, events):", f"    {''.join(f'acc{s}, ' for s in suffixes)}= accs"]
            lines += [self._unpack(f"acc{s}", s) for s in suffixes]
        counted = [(variable, arg.counted) for variable, arg in self.args.items() if arg.counted]
        lines += [f"    n_{variable} = 0" for variable, _ in counted]
        sums = self._decimal_sums() if strict and windows is None else None
        indent = "    "
        if sums:  # a running Decimal sum of each field: sum() adds in C, in the same order
            lines.append(f"    if {' and '.join(f'{slot}.__class__ is _Decimal' for slot, _ in sums)}:")
            lines += [f"        {slot} = _sum(_map(_item({name}), events), {slot})" for slot, name in sums]
            lines.append("    else:")
            indent = "        "
        lines.append(indent + "for e in events:")
        for variable, arg in self.args.items():
            read = _GET.sub(r"e[\1]", arg.python) if strict else arg.python
            lines += [f"{indent}    {variable} = {read}", f"{indent}    if {variable} is not None:"]
            lines += [f"{indent}        " + line for line in arg.checks]
            lines += [f"{indent}        n_{variable} += 1"] if arg.counted else []
            lines += [f"{indent}        " + _suffixed(line, s) for s in suffixes for line in arg.present]
        if not self.args:
            lines.append(indent + "    pass")
        for s in suffixes:
            lines += [f"    {slot}{s} += len(events)" for slot in self.per_event]
            lines += [f"    {slot}{s} += n_{variable}" for variable, slots in counted for slot in slots]
            lines += ["    " + _suffixed(line, s) for line in self.finite]
        returned = [f"[{', '.join(name + s for name in self.names)}]" for s in suffixes]
        lines.append(f"    return {returned[0]}" if windows is None else f"    return [{', '.join(returned)}]")
        return "\n".join(lines) + "\n"

    def _decimal_sums(self) -> Optional[List[Tuple[str, str]]]:
        """``(slot, field name)`` of each argument when every one is a plain field read only
        summed (no check, no count), else None: then a batch whose sums are all Decimals adds
        each field with ``sum()``, which adds as the loop does (``+``, in order; a null or
        a missing field raises, and the lenient fold takes the batch)."""
        sums = []
        for variable, arg in self.args.items():
            field_name = _GET.match(arg.python)
            update = _SUM_UPDATE.match(arg.present[0]) if len(arg.present) == 1 else None
            if field_name is None or arg.checks or arg.counted or update is None or update.group(2) != variable:
                return None
            sums.append((update.group(1), field_name.group(1)))
        return sums or None

    def _unpack(self, acc: str, suffix: str) -> str:
        cells = [f"list({acc}[{i}])" if _is_list(self.slots, i) else f"{acc}[{i}]" for i in range(len(self.names))]
        return f"    {', '.join(name + suffix for name in self.names)}, = {', '.join(cells)},"


@dataclass
class _Argument:
    """One argument of the quick folds: read once per event, its aggregations' lines."""

    python: str
    checks: List[str] = field(default_factory=list)
    present: List[str] = field(default_factory=list)
    counted: List[str] = field(default_factory=list)


# a field read: pure and cheap, so aggregations of the same field share one read per event
_PLAIN_READ = re.compile(r"^e(?:\.get\('[^'\\]*'\)|\['[^'\\]*'\])$")
_GET = re.compile(r"^e\.get\(('[^'\\]*')\)$")  # a plain read of a field that may be missing
_SUM_UPDATE = re.compile(r"^(a\d+) = (x\d+) if \1 is None else \1 \+ \2( if .*)?$")  # sum's update of a slot


def _rename(line: str, variable: str) -> str:
    """An update or check line over ``x`` with ``x`` renamed (``x`` is a whole word there)."""
    return re.sub(r"\bx\b", variable, line)


def _suffixed(line: str, suffix: str) -> str:
    """A line over the slots ``a0``, ``a1``, ... over those of another accumulator."""
    return re.sub(r"\b(a\d+)\b", r"\1" + suffix, line) if suffix else line


def _is_list(slots: list, position: int) -> bool:
    index = 0
    for _, aggregation, _ in slots:
        for init in aggregation.init:
            if index == position:
                return init == "[]"
            index += 1
    return False
