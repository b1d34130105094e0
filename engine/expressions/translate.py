"""Syntax tree -> Python source, with static types and SQL null semantics.

Every node becomes a :class:`Code`: Python source over the event dict ``e``, its static type,
and whether it may be null. Null propagates through operators and strict functions;
``and``/``or``/``not`` use three-valued logic. Predicates (``filter``, ``route``) get a
second translation, :meth:`Translator.truth`, that is true exactly when the expression is
true, which avoids materialising nulls on the hot path.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Set

from engine.expressions import booleans, chains, inline, types
from engine.expressions.errors import ExpressionError
from engine.expressions.folding import NO_VALUE as _NO_VALUE
from engine.expressions.folding import Code, coerce, fold, literal_code
from engine.expressions.folding import bindable as _bindable
from engine.expressions.functions import FUNCTIONS, SPECIAL_FORMS, Function, sha256_of, uuid5_of
from engine.expressions.parser import COMPARISONS
from engine.expressions.runtime import constant, hashable
from engine.expressions.syntax import Binary, Call, Field, Index, IsNull, ListOf, Literal, Node, Unary
from engine.hints import did_you_mean

_ARITHMETIC = {"+", "-", "*", "/", "%"}
# Paths up to this many steps are inlined (2 parentheses per step); longer call _path (CPython: 200 at most)
_INLINE_PATH = 6
_ID_HASHES = {"uuid5": uuid5_of, "sha256": sha256_of}  # of the parts' text (inline.id_text)
__all__ = ["Code", "Translator", "literal_code"]


class Translator:
    """``strict``: a top-level field is read as ``e[name]`` (KeyError when the event lacks it),
    a third of the cost of ``e.get(name)``, for code that falls back to the lenient
    translation when it raises (``Expression.strict``). ``inline``: ``str`` and ``concat``
    written out (engine/expressions/inline.py), conditions ``x == literal`` without a null
    guard; False keeps the plain translation (for tests)."""

    def __init__(self, fields: Optional[Dict[str, str]], strict: bool = False, inline: bool = True) -> None:
        self.fields = fields
        self.strict = strict
        self.inline = inline
        self.read: Set[str] = set()
        self.notes: List[ExpressionError] = []  # warnings: reads that look like typos
        self._temps = 0

    def temp(self) -> str:
        self._temps += 1
        return f"_v{self._temps}"

    # -- value translation ----------------------------------------------------------------
    def value(self, node: Node) -> Code:
        method: Callable[[Any], Code] = getattr(self, "_" + type(node).__name__.lower())
        return method(node)

    def _literal(self, node: Literal) -> Code:
        return literal_code(node.value)

    def _listof(self, node: ListOf) -> Code:
        items = [self.value(i) for i in node.items]
        known = [i.value for i in items] if all(i.known for i in items) else _NO_VALUE
        return Code("[" + ", ".join(i.src for i in items) + "]", "list", False, known)

    def _field(self, node: Field) -> Code:
        top = node.path[0]
        assert isinstance(top, str), "a field path starts with a field name"
        field_type = self._field_type(node, top)
        self.read.add(top)
        if len(node.path) == 1:
            return Code(self.top(top), field_type, True)
        if types.kind(field_type) not in types.LOOSE and types.kind(field_type) != "list":
            raise ExpressionError(f"field '{top}' is {field_type}: it has no field '{node.path[1]}'",
                                  node.offset, node.length)
        if len(node.path) <= _INLINE_PATH and all(type(key) is str for key in node.path):
            return Code(self.inline_path(node.path), "any", True)
        return Code(f"_path(e, {node.path!r})", "any", True)

    def top(self, name: str) -> str:
        return f"e[{name!r}]" if self.strict else f"e.get({name!r})"

    def inline_path(self, path) -> str:
        """``a.b.c`` as nested dict lookups, null when a step is missing or not an object
        (the same as ``_path``, without a Python call per event); ``strict``: a missing step
        of an object raises KeyError, as a missing top-level field does (~110 instructions
        less per step than ``.get``)."""
        src = self.top(path[0])
        for key in path[1:]:
            t = self.temp()
            read = f"{t}[{key!r}]" if self.strict else f"{t}.get({key!r})"
            src = f"({read} if _type({t} := {src}) is _dict else None)"
        return src

    def _field_type(self, node: Field, top: str) -> str:
        if self.fields is None:
            return "any"
        if top not in self.fields and types.OPEN not in self.fields:
            known = sorted(self.fields)
            hint = did_you_mean(top, known) or ("fields here: " + ", ".join(known) if known else None)
            raise ExpressionError(f"unknown field '{top}'", node.offset, len(str(top)), hint=hint)
        if top not in self.fields:  # open events may carry it; a near miss of a known one is likelier a typo
            hint = did_you_mean(top, [name for name in self.fields if name != types.OPEN])
            if hint:
                self.notes.append(ExpressionError(f"field '{top}' is not among the known fields: it is null "
                                                  "unless the events carry it", node.offset, len(str(top)), hint=hint))
        return self.fields.get(top, "any")

    def _index(self, node: Index) -> Code:
        target, index = self.value(node.target), self.value(node.index)
        return Code(self.guarded([target, index], lambda t, i: f"_index({t}, {i})"), "any", True)

    def _unary(self, node: Unary) -> Code:
        operand = self.value(node.operand)
        if node.op == "not":
            self.need_bool(operand, node.operand, "'not'")
            return Code(self.guarded([self.as_bool(operand)], lambda x: f"(not {x})"), "bool", operand.nullable)
        if types.kind(operand.type) not in types.NUMERIC | types.LOOSE | {"duration"}:
            raise ExpressionError(f"cannot negate {operand.type}", node.offset, node.length)
        negate = "{}.copy_negate()" if types.kind(operand.type) == "decimal" else "(-{})"  # -x rounds to 28 digits
        check = ("_no_bool", "-") if types.kind(operand.type) in types.LOOSE else None  # -true is not -1
        return Code(self.guarded([operand], lambda x: negate.format(booleans.checked_operand(x, check, self.temp))),
                    operand.type, operand.nullable)

    def _isnull(self, node: IsNull) -> Code:
        operand, test = self.value(node.operand), "is not None" if node.negated else "is None"
        src = operand.src if operand.nullable else f"({self.temp()} := {operand.src})"  # Python warns of '5 is None'
        return Code(f"({src} {test})", "bool", False)

    def _binary(self, node: Binary) -> Code:
        if node.op in ("and", "or"):
            return self.logic(node)
        if node.op == "??":
            return self.coalescing(chains.operands(node))
        if node.op in _ARITHMETIC:
            return self.arithmetic(node)
        left, right, build = self.comparison(node)
        return Code(self.guarded([left, right], build), "bool", left.nullable or right.nullable)

    def coalescing(self, nodes: List[Node]) -> Code:
        """``a ?? b ?? c``: one flat conditional expression, each operand evaluated once."""
        codes = [self.value(n) for n in nodes]
        src, kind = codes[-1].src, codes[-1].type
        for code in reversed(codes[:-1]):
            t = self.temp()
            src = f"{t} if ({t} := {code.src}) is not None else {src}"
            kind = types.unify(code.type, kind)
        return Code(f"({src})", kind, codes[-1].nullable)

    def arithmetic(self, node: Binary) -> Code:
        """A chain ``a + b - c`` (or ``* / %``): types checked step by step, then one flat
        Python expression under one null guard and one float-range check."""
        first, steps = chains.steps(node)
        parts = [self.value(first)]
        partial, finite = parts[0], False
        for step, right_node in steps:
            left, right = self.coerced_pair(partial, self.value(right_node), step)
            if len(parts) == 1:
                parts[0] = left
            parts.append(right)
            result = types.arithmetic(step.op, left.type, right.type)
            if result is None:
                raise ExpressionError(f"cannot apply '{step.op}' to {left.type} and {right.type}",
                                      step.offset, step.length, hint=types.arithmetic_hint(left.type, right.type))
            finite = finite or (step.op != "%" and result in ("float", "any") and {left.type, right.type} != {"int"})
            partial = Code("", result, left.nullable or right.nullable)
        if any(types.kind(p.type) == "str" for p in parts):  # a text or an error from that step on, never
            finite = False  # a float (a row key's "table + ':' + ...": one call less per change)
        ops = [step.op for step, _ in steps]
        checks = booleans.operand_checks([types.kind(p.type) for p in parts], ops)  # untyped operands

        def build(*names: str) -> str:
            terms = [booleans.checked_operand(n, check, self.temp) for n, check in zip(names, checks, strict=True)]
            body = terms[0] + "".join(f" {op} {term}" for op, term in zip(ops, terms[1:], strict=False))
            decimal = f"_decimal_chain(({', '.join(terms)},), {tuple(ops)!r})"  # exact, or a clear error
            return decimal if types.kind(partial.type) == "decimal" else f"{'_finite' if finite else ''}({body})"

        return Code(self.guarded(parts, build), partial.type, partial.nullable)

    def logic(self, node: Binary) -> Code:
        """Three-valued ``a and b and c`` (or ``or``), flat: the decisive value as soon as an
        operand has it, else null if an operand is null, else the other value."""
        codes = []
        for operand in chains.operands(node):
            code = self.value(operand)
            self.need_bool(code, operand, f"'{node.op}'")
            codes.append(self.as_bool(code))
        if not any(code.nullable for code in codes):
            return Code("(" + f" {node.op} ".join(code.src for code in codes) + ")", "bool", False)
        decisive, other = ("False", "True") if node.op == "and" else ("True", "False")
        tests, nulls = [], []
        for code in codes:
            if code.nullable:
                t = self.temp()
                tests.append(f"({t} := {code.src}) is {decisive}")
                nulls.append(f"{t} is None")
            else:
                tests.append(f"{code.src} is {decisive}")
        src = f"({decisive} if {' or '.join(tests)} else (None if {' or '.join(nulls)} else {other}))"
        return Code(src, "bool", True)

    # -- comparisons --------------------------------------------------------------------------
    def comparison(self, node: Binary):
        left, right = self.value(node.left), self.value(node.right)
        if node.op in ("in", "not in"):
            return self.membership(node, left, right)
        for side, code in ((node.left, left), (node.right, right)):
            if code.known and code.value is None:
                other = node.right if side is node.left else node.left
                raise ExpressionError(f"'{node.op}' with null is always null", node.offset, node.length,
                                      hint="use 'is null' or 'is not null'" if other is not None else None)
        left, right = self.coerced_pair(left, right, node)
        if not types.comparable(left.type, right.type, node.op not in ("==", "!=")):
            raise ExpressionError(f"cannot compare {left.type} with {right.type}", node.offset, node.length,
                                  hint=types.compare_hint(left.type, right.type))
        return left, right, booleans.comparison(node.op, types.kind(left.type), types.kind(right.type))

    def membership(self, node: Binary, left: Code, right: Code):
        negate = "not " if node.op == "not in" else ""
        if right.known and isinstance(right.value, list) and all(map(hashable, right.value)):
            items = frozenset(self.coerce(literal_code(v), left.type, node.right).value for v in right.value)
            return left, Code(constant(items), "list", False), inline.literal_membership(types.kind(left.type), negate)
        if types.kind(right.type) not in types.LOOSE | {"list", "str"}:
            raise ExpressionError(f"'{node.op}' needs a list or a string on the right, got {right.type}",
                                  node.right.offset, node.right.length, hint="e.g. status in ['NEW', 'PLANNED']")
        return left, right, lambda a, b: f"({negate}_in({a}, {b}))"

    def coerced_pair(self, left: Code, right: Code, node: Binary):
        """Literals take the type of the other side: '2024-01-01' next to a timestamp
        becomes a timestamp, 0.1 next to a decimal becomes Decimal('0.1') (exact)."""
        if right.known and not left.known:
            return left, self.coerce(right, left.type, node.right)
        if left.known and not right.known:
            return self.coerce(left, right.type, node.left), right
        return left, right

    coerce = staticmethod(coerce)

    # -- calls ----------------------------------------------------------------------------------
    def _call(self, node: Call) -> Code:
        if node.name in SPECIAL_FORMS:
            return self.special(node)
        function = FUNCTIONS.get(node.name)
        if function is None:
            hint = did_you_mean(node.name, [*FUNCTIONS, *SPECIAL_FORMS]) or "see docs/expressions.md"
            raise ExpressionError(f"unknown function '{node.name}'", node.offset, node.name_length, hint=hint)
        self.check_arity(node, function)
        args = [self.argument(node, function, i, a) for i, a in enumerate(node.args)]
        if function.pure and all(a.known for a in args):
            return self.fold(node, function, args)
        if self.inline and function.name == "concat":
            src = inline.concat(args, list(node.args), self.temp)
            if src is not None:
                return Code(src, "str", False)  # never null
        if self.inline and function.name in _ID_HASHES:  # the hash of the text written out
            src = inline.id_text(args, list(node.args), self.temp)
            if src is not None:
                return Code(f"{constant(_ID_HASHES[function.name])}({src})", "str", False)
        if _bindable(function, args) and function.bind is not None:
            bound = constant(function.bind(args[-1].value))  # e.g. a regular expression, compiled once
            return self.call_code(function, args[:-1], bound)
        return self.call_code(function, args)

    def check_arity(self, node: Call, function: Function) -> None:
        count, params = len(node.args), len(function.params)
        least = function.required if function.required is not None else params
        most: Optional[int] = params
        if function.variadic:
            least, most = 1, None
        if count < least or (most is not None and count > most):
            wanted = f"at least {least}" if most is None else (str(most) if least == most else f"{least} to {most}")
            raise ExpressionError(f"{node.name}() takes {wanted} argument{'s' if wanted != '1' else ''}, got {count}",
                                  node.offset, node.length, hint=f"{node.name}: {function.doc}")

    def argument(self, node: Call, function: Function, index: int, arg: Node) -> Code:
        code = self.value(arg)
        kinds = function.params[min(index, len(function.params) - 1)]
        if kinds is not None and types.kind(code.type) not in kinds | types.LOOSE:
            raise ExpressionError(f"{node.name}() needs {' or '.join(sorted(kinds))} as argument {index + 1}, "
                                  f"got {code.type}", arg.offset, arg.length, hint=f"{node.name}: {function.doc}")
        if index in function.literal and code.known and code.value is not None:
            try:
                function.literal[index](code.value)
            except (ValueError, TypeError) as exc:
                raise ExpressionError(f"{node.name}(): {exc}", arg.offset, arg.length,
                                      hint=getattr(exc, "hint", None)) from None
        if kinds is not None and types.kind(code.type) in ("any", "json"):
            where = f"{node.name}() argument {index + 1}"
            kinds_seen = tuple(sorted(kinds))
            if self.inline:
                return Code(inline.checked(code.src, kinds_seen, where, self.temp), code.type, code.nullable)
            return Code(f"_check({code.src}, {kinds_seen!r}, {where!r})", code.type, code.nullable)
        return code

    def fold(self, node: Call, function: Function, args: List[Code]) -> Code:
        return fold(node, function, args)

    def call_code(self, function: Function, args: List[Code], bound: Optional[str] = None) -> Code:
        """The call of ``function``, or of ``bound`` (its ``bind``) without the last argument."""
        name = bound or f"_f_{function.name}"
        result = function.result_type([a.type for a in args])
        if not function.strict:
            return Code(f"{name}({', '.join(a.src for a in args)})", result, True)
        if function.method and not bound and types.kind(args[0].type) == "str":  # skip a Python call
            src = self.guarded(args, lambda first, *rest: f"{first}.{function.method}({', '.join(rest)})")
        elif self.inline and function.name == "str":
            src = self.guarded(args, lambda x: inline.text_of(x, self.temp))
        else:
            src = self.guarded(args, lambda *xs: f"{name}({', '.join(xs)})")
        return Code(src, result, True)

    def special(self, node: Call) -> Code:
        if node.name == "coalesce":
            if not node.args:
                raise ExpressionError("coalesce() takes at least 1 argument, got 0", node.offset, node.length)
            return self.value(_chain_coalesce(node))
        if len(node.args) != 3:
            raise ExpressionError(f"if() takes 3 arguments, got {len(node.args)}", node.offset, node.length,
                                  hint="if(condition, then, else)")
        condition = self.truth(node.args[0])
        then, other = self.value(node.args[1]), self.value(node.args[2])
        return Code(f"({then.src} if {condition} else {other.src})", types.unify(then.type, other.type),
                    then.nullable or other.nullable)

    # -- helpers ----------------------------------------------------------------------------------
    def guarded(self, parts: List[Code], build: Callable[..., str]) -> str:
        """``build(*srcs)``, or null when any nullable part is null (evaluated once each)."""
        names, tests = [], []
        for part in parts:
            if part.nullable:
                t = self.temp()
                tests.append(f"({t} := {part.src}) is None")
                names.append(t)
            else:
                names.append(part.src)
        body = build(*names)
        return f"(None if {' or '.join(tests)} else {body})" if tests else body

    def need_bool(self, code: Code, node: Node, what: str) -> None:
        if types.kind(code.type) not in {"bool"} | types.LOOSE:
            raise ExpressionError(f"{what} needs a boolean, got {code.type}", node.offset, node.length,
                                  hint="compare it, e.g. x != 0 or x is not null")

    @staticmethod
    def as_bool(code: Code) -> Code:
        if types.kind(code.type) == "bool" or code.known:
            return code
        return Code(f"_bool({code.src})", "bool", code.nullable)

    # -- predicates -------------------------------------------------------------------------------
    def truth(self, node: Node, negated: bool = False) -> str:
        """Python source that is truthy exactly when ``node`` is true (``negated``: false)."""
        if isinstance(node, Unary) and node.op == "not":
            self.need_bool(self.value_only(node.operand), node.operand, "'not'")
            return self.truth(node.operand, not negated)
        if isinstance(node, Binary) and node.op in ("and", "or"):
            return self.truth_logic(node, negated)
        if isinstance(node, Binary) and (node.op in COMPARISONS or node.op in ("in", "not in")):
            return self.truth_comparison(node, negated)
        code = self.value(node)
        self.need_bool(code, node, "a condition")
        if code.known:
            return repr(code.value is (not negated))
        if isinstance(node, IsNull):
            return f"(not {code.src})" if negated else code.src
        return f"({self.as_bool(code).src} is {not negated})"

    def truth_logic(self, node: Binary, negated: bool) -> str:
        # De Morgan: "not (a and b)" is true exactly when a is false or b is false.
        joiner = "and" if (node.op == "and") != negated else "or"
        return "(" + f" {joiner} ".join(self.truth(operand, negated) for operand in chains.operands(node)) + ")"

    def truth_comparison(self, node: Binary, negated: bool) -> str:
        left, right, build = self.comparison(node)
        names, tests = [], []
        # x == 'lit' is false for a null x, as the guard makes it: no guard (nor for not (x != 'lit'))
        unguarded = self.inline and (node.op, negated) in (("==", False), ("!=", True)) and any(
            p.known and p.value is not None for p in (left, right))
        for part in (left, right):
            if part.nullable and not unguarded:
                t = self.temp()
                tests.append(f"({t} := {part.src}) is not None")
                names.append(t)
            else:
                names.append(part.src)
        body = build(*names)
        body = f"(not {body})" if negated else body
        return f"({' and '.join(tests + [body])})" if tests else body

    def value_only(self, node: Node) -> Code:
        """Type of ``node`` without keeping its temporaries (used for checks only)."""
        saved = self._temps
        code = self.value(node)
        self._temps = saved
        return code


def _chain_coalesce(node: Call) -> Node:
    result = node.args[-1]
    for arg in reversed(node.args[:-1]):
        result = Binary(node.offset, node.length, "??", arg, result)
    return result
