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


class FirstTry:
    """``batch -> result`` by a faster function when it can, else by ``sure``.

    The faster function (built by ``make_fast`` when first needed, at run time rather than at
    ``validate``) may raise for some batches, e.g. one that reads fields as ``e[name]`` meets an
    event without one; ``sure`` then does the batch. After such a batch ``sure`` alone runs
    for the next ``PAUSE`` batches, so a feed the faster one never suits pays a failed try once
    in that many. Only for pure functions: a batch may be started twice.
    """

    PAUSE = 8

    def __init__(self, make_fast: Callable[[], Callable], sure: Callable) -> None:
        self._make_fast: Optional[Callable[[], Callable]] = make_fast
        self._fast: Optional[Callable] = None
        self.sure = sure
        self._pause = 0

    def __call__(self, *batch):  # a batch, or the arguments of a fold
        if self._pause:
            self._pause -= 1
            return self.sure(*batch)
        fast = self._fast
        if fast is None:
            try:
                fast = self._make_fast()  # type: ignore[misc]
            except Exception:  # noqa: BLE001 - an optimisation that cannot be built is no reason to stop
                fast = self.sure
            self._fast = fast
        try:
            return fast(*batch)
        except Exception:  # noqa: BLE001 - not a batch for the faster function: the sure one decides
            self._pause = self.PAUSE
            return self.sure(*batch)
