"""Calls written out in the generated code instead of a Python call per event.

``str(x)`` and ``concat(a, b, ...)`` build most keys, and the text ``uuid5``/``sha256`` hash
most ids; their implementations (``values.to_str``, ``functions._concat``, ``_id_text``) cost
more than the rest of a typical key expression. A text is its own text form, so the generated
code tests for an exact ``str`` and calls the implementation only for other values: the same
values, the same errors (the translator's ``inline=False`` keeps the plain calls, which tests
compare).
"""

from __future__ import annotations

from typing import Callable, List, Optional

from engine import values
from engine.expressions.folding import Code
from engine.expressions.runtime import constant
from engine.expressions.syntax import Binary, Call, Field, IsNull, ListOf, Literal, Node
from engine.expressions.types import LOOSE, PYTHON_TYPES


def type_tested(src: str, python_type: str, otherwise: Callable[[str], str], temp: Callable[[], str],
                negate: bool = False) -> str:
    """``src``, evaluated once, where its type is (``negate``: is not) ``python_type`` (a
    namespace name); else ``otherwise(name)`` of its value: one type test on the usual path,
    written out, and the call only for the other values."""
    if src.isidentifier():
        name = bound = src
    else:
        name = temp()
        bound = f"({name} := {src})"
    return f"({name} if _type({bound}) is {'not ' if negate else ''}{python_type} else {otherwise(name)})"


def text_of(src: str, temp: Callable[[], str]) -> str:
    """``str(x)`` of a value that is not null: the text itself, an int's ``str`` (what
    ``values.to_str`` gives it, without its Python call), else ``values.to_str``."""
    return type_tested(src, "_str", _text_of_other, temp)


def _text_of_other(name: str) -> str:
    return f"_str({name}) if _type({name}) is {constant(int)} else _f_str({name})"


def checked(src: str, kinds: tuple, where: str, temp: Callable[[], str]) -> str:
    """``_check(src, kinds, where)`` (an argument whose type is known only per event), a value
    of the one Python type ``kinds`` accept passing without the call (~1,000 instructions per
    event); any other value, null too, gets the call: its value or its error."""
    accepted = [python for kind in kinds for python in PYTHON_TYPES.get(kind, ())]
    if len(accepted) != 1:
        return f"_check({src}, {kinds!r}, {where!r})"
    return type_tested(src, constant(accepted[0]), lambda t: f"_check({t}, {kinds!r}, {where!r})", temp)


def concat(args: List[Code], nodes: List[Node], temp: Callable[[], str]) -> Optional[str]:
    """``concat(...)`` as ``''.join((...))`` of each argument's text ('' for null), or None
    when the call must stay: ``_concat`` evaluates every argument before it converts the
    first, so an argument after the first must be one whose evaluation cannot fail (a field,
    a literal, ``coalesce`` of such) for a failing conversion to raise the same error."""
    if not all(map(quiet, nodes[1:])):
        return None
    parts = []
    for arg in args:
        if arg.known:
            text = _literal_text(arg.value)
            if text is not None:
                if text:
                    parts.append(repr(text))
                continue
            if arg.value is None:
                continue
        t = temp()
        parts.append(f"({t} if _type({t} := {arg.src}) is _str else _text({t}))")
    if not parts:
        return "''"
    return parts[0] if len(parts) == 1 else f"''.join(({', '.join(parts)}))"


def id_text(args: List[Code], nodes: List[Node], temp: Callable[[], str]) -> Optional[str]:
    """The text ``uuid5(...)``/``sha256(...)`` hash (``functions._id_text`` of the arguments:
    their texts joined by US, '' for null) as ``'\\x1f'.join((...))``, or None when the call
    must stay (for the reason ``concat`` gives: ``_id_text`` evaluates every argument first)."""
    if not all(map(quiet, nodes[1:])):
        return None
    parts = []
    for arg in args:
        if arg.known:
            text = "" if arg.value is None else _literal_text(arg.value)
            if text is not None:
                parts.append(repr(text))
                continue
        t = temp()
        parts.append(f"({t} if _type({t} := {arg.src}) is _str else _text({t}))")
    return parts[0] if len(parts) == 1 else f"'\\x1f'.join(({', '.join(parts)}))"


def _literal_text(value) -> Optional[str]:
    """The text form of a literal argument, made now; None for null, or when making it fails
    (an int of more than 4,300 digits: then each event fails, as before)."""
    if value is None:
        return None
    try:
        return values.to_str(value)
    except Exception:  # noqa: BLE001 - left to run time, where it raises per event as the call did
        return None


def quiet(node: Node) -> bool:
    """Whether evaluating ``node`` can never raise: literals, field reads, ``is null`` and
    ``coalesce``/``??`` of such (no function, operator or comparison that could)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (Literal, Field)):
            continue
        if isinstance(item, IsNull):
            stack.append(item.operand)
        elif isinstance(item, Binary) and item.op == "??":
            stack.extend((item.left, item.right))
        elif isinstance(item, Call) and item.name == "coalesce":
            stack.extend(item.args)
        elif isinstance(item, ListOf):
            stack.extend(item.items)
        else:
            return False
    return True


def literal_membership(left_kind: str, negate: str) -> Callable[[str, str], str]:
    """The test of ``x in [literals]`` (their frozenset ``b``): Python's ``in``, or ``_member``
    where x may be a list or an object at run time (unhashable: ``in`` would raise)."""
    if left_kind in LOOSE or left_kind == "list":
        return lambda a, b: f"({negate}_member({a}, {b}))"
    return lambda a, b: f"({a} {negate}in {b})"
