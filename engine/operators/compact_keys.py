"""The row and group keys of a compact change (engine/operators/compact_change.py) in one
generated function of the change's table and rows.

A ``debezium`` step that hands a ``merge_transactions`` step compact changes takes each usual
change's two keys. As two key functions (``transaction_net.key_function``) of a dict holding
the change's ``table``, ``before`` and ``after``, that is three stores into the dict, two calls
and a dict read per field read (~5 a change); here the expressions' strict code reads the three
as the function's arguments, in one call. The value and the failure of each key are the key
function's: where the strict code raises, the plain code of a dict of the three decides, and
a failure of either key raises (the change then stays a dict).
"""

from __future__ import annotations

import ast
from typing import Callable, Dict, Optional, Tuple

from engine.code_cache import kept_rewrite
from engine.expressions import Expression
from engine.operators.codegen import build_function
from engine.operators.compact_change import KEY_FIELDS
from engine.operators.transaction_net import key_text_code

ARGUMENTS = {"table": "e_table", "before": "e_before", "after": "e_after"}  # field -> the argument that holds it
assert set(ARGUMENTS) == KEY_FIELDS
# (table, before, after) -> (row key, group key): what the debezium step calls for each usual change
KeysOfChange = Callable[[str, Optional[dict], Optional[dict]], Tuple[Optional[str], Optional[str]]]


def keys_of(row: Callable, group: Callable) -> KeysOfChange:
    """``both`` of two key functions of a change dict (``compact_keys``' way where the strict code
    reads the event otherwise than as the three fields)."""
    def both(table, before, after):
        change = {"table": table, "before": before, "after": after}
        return row(change), group(change)
    return both


def compact_keys(row: Expression, group: Optional[Expression], row_key: Callable, group_key: Callable,
                 step_id: str) -> KeysOfChange:
    """``(table, before, after) -> (row key, group key)`` of compact changes: the values of
    ``row_key`` and ``group_key`` (the key functions of ``row`` and ``group``; the row's for both
    without ``group``), written out in one function when each expression's strict code reads the
    event only as fields of ``KEY_FIELDS``."""
    expressions = [row] if group is None else [row, group]
    codes = [_over_arguments(expression.strict()[0]) for expression in expressions]
    if any(code is None for code in codes):
        return keys_of(row_key, group_key)
    lines = ["def both(e_table, e_before, e_after):"]
    names: Dict[str, object] = {"_Exception": Exception}
    for index, code in enumerate(codes):
        names[f"_sure{index}"] = expressions[index].function
        lines += ["    try:", f"        v = ({code})", "    except _Exception:",
                  f"        v = _sure{index}({{'table': e_table, 'before': e_before, 'after': e_after}})",
                  f"    k{index} = {key_text_code('v')}"]
    lines.append("    return k0, " + ("k0" if group is None else "k1"))
    return build_function("both", "\n".join(lines) + "\n", step_id, names)


@kept_rewrite  # (a parse and two walks, kept across processes)
def _over_arguments(source: str) -> Optional[str]:
    """``source`` with each ``e['<field>']`` read as its argument (``ARGUMENTS``); None when it
    reads the event otherwise, or names an argument already."""
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    if names & set(ARGUMENTS.values()):
        return None

    class Reads(ast.NodeTransformer):
        def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
            if isinstance(node.value, ast.Name) and node.value.id == "e" and isinstance(node.slice, ast.Constant) \
                    and node.slice.value in ARGUMENTS and isinstance(node.ctx, ast.Load):
                return ast.copy_location(ast.Name(ARGUMENTS[node.slice.value], ast.Load()), node)
            return self.generic_visit(node)

    try:
        tree = ast.fix_missing_locations(Reads().visit(tree))
        if any(isinstance(node, ast.Name) and node.id == "e" for node in ast.walk(tree)):
            return None
        return ast.unparse(tree)
    except (RecursionError, MemoryError, ValueError):
        return None
