"""One object test per shared read: after ``reuse_reads``, a field read once and used by
several nested reads (``after.a``, ``after.b``: ``_r1 := e['after']``, then ``_r1`` again)
is still tested each time (``x[k] if _type((_v := _r1)) is _dict else None``, ~120
instructions a test). The first test, which runs wherever the shared read runs (the read is
inside it), keeps its result in a name of its own; the later ones read that name and index
``_r1`` itself. Only that exact shape is rewritten; anything else is left as it is.
"""

from __future__ import annotations

import ast
from typing import Dict, Optional, Tuple

from engine.code_cache import compiled, kept_rewrite


@kept_rewrite  # (a parse and two walks, kept across processes)
def share_object_tests(src: str) -> str:
    """``src`` with each repeated ``_type(...) is _dict`` test of a shared read done once;
    ``src`` itself when there is none (or the code is not what the translator makes)."""
    try:
        tree = ast.parse(src, mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return src
    tests = [(node, shape) for node in ast.walk(tree) if isinstance(node, ast.IfExp)
             for shape in [_shape(node)] if shape is not None]
    stores: Dict[str, int] = {}
    loads: Dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            counts = stores if isinstance(node.ctx, ast.Store) else loads
            counts[node.id] = counts.get(node.id, 0) + 1
    owners = {shared: node for node, (_, shared, owns) in tests if owns and stores.get(shared) == 1}
    # a temporary read anywhere but in the body of its own test keeps its assignment
    in_bodies: Dict[str, int] = {}
    for _, (temp, _, _) in tests:
        in_bodies[temp] = in_bodies.get(temp, 0) + 1
    reusers = [(node, temp, shared) for node, (temp, shared, owns) in tests
               if not owns and shared in owners and loads.get(temp) == in_bodies.get(temp)]
    if not reusers:
        return src
    names = set(stores) | set(loads)
    flags: Dict[str, str] = {}
    for shared in sorted({shared for _, _, shared in reusers}):
        number = len(flags) + 1
        while f"_d{number}" in names:
            number += 1
        flags[shared] = f"_d{number}"
        names.add(flags[shared])
        owner = owners[shared]
        owner.test = ast.NamedExpr(ast.Name(flags[shared], ast.Store()), owner.test)
    for node, _, shared in reusers:
        node.test = ast.Name(flags[shared], ast.Load())
        body = node.body
        assert isinstance(body, ast.Subscript), "a matched shape"
        node.body = ast.Subscript(ast.Name(shared, ast.Load()), body.slice, ast.Load())
    out = f"({ast.unparse(ast.fix_missing_locations(tree))})"
    try:
        compiled(out, "<expression>", "eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return src
    return out


def _shape(node: ast.IfExp) -> Optional[Tuple[str, str, bool]]:
    """``(temporary, shared read, whether this test assigns the shared read)`` of
    ``t[k] if _type((t := r)) is _dict else None`` (``r`` a name, or ``(r := ...)``)."""
    test, body = node.test, node.body
    if not (isinstance(node.orelse, ast.Constant) and node.orelse.value is None
            and isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Is)
            and _is_name(test.comparators[0], "_dict") and isinstance(test.left, ast.Call)
            and _is_name(test.left.func, "_type") and len(test.left.args) == 1 and not test.left.keywords):
        return None
    named = test.left.args[0]
    if not (isinstance(named, ast.NamedExpr) and isinstance(named.target, ast.Name)):
        return None
    temp = named.target.id
    if not (isinstance(body, ast.Subscript) and _is_name(body.value, temp) and isinstance(body.slice, ast.Constant)):
        return None
    value = named.value
    if isinstance(value, ast.Name):
        return temp, value.id, False
    if isinstance(value, ast.NamedExpr) and isinstance(value.target, ast.Name):
        return temp, value.target.id, True
    return None


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name
