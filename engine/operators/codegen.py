"""Build fused batch functions from compiled expressions.

The generated source is assembled only from the ``.python`` of expressions our own compiler
produced and from ``repr()`` of names, never from user text, so compiling it is safe. Fusing
all expressions of a step into one function over the whole batch removes a Python call per
event per expression.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from engine.expressions import NAMESPACE


def build_function(name: str, source: str, step_id: str, extra: Optional[Dict[str, Any]] = None) -> Callable:
    """Compile ``source`` (which defines ``name``) with the expression namespace as globals."""
    scope: Dict[str, Any] = dict(NAMESPACE)
    if extra:
        scope.update(extra)
    code = compile(source, f"<velocity-flow step {step_id!r}>", "exec")
    exec(code, scope)  # noqa: S102 - source generated from our own AST, see module docstring
    return scope[name]
