"""Build fused batch functions from compiled expressions.

The generated source is assembled only from the ``.python`` of expressions our own compiler
produced and from ``repr()`` of names, never from user text, so compiling it is safe. Fusing
all expressions of a step into one function over the whole batch removes a Python call per
event per expression.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from engine.errors import ConfigError
from engine.expressions import NAMESPACE


def build_function(name: str, source: str, step_id: str, extra: Optional[Dict[str, Any]] = None) -> Callable:
    """Compile ``source`` (which defines ``name``) with the expression namespace as globals."""
    scope: Dict[str, Any] = dict(NAMESPACE)
    if extra:
        scope.update(extra)
    try:
        code = compile(source, f"<velocity-flow step {step_id!r}>", "exec")
    except (SyntaxError, RecursionError, MemoryError) as exc:  # CPython's limits (nesting, size), not ours
        raise ConfigError(f"this step's expressions are too complex to compile ({type(exc).__name__}: "
                          f"{getattr(exc, 'msg', None) or exc})",
                          hint="split them over several steps or map fields") from None
    exec(code, scope)  # noqa: S102 - source generated from our own AST, see module docstring
    return scope[name]
