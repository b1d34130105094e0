"""Build fused batch functions from compiled expressions.

The generated source is assembled only from the ``.python`` of expressions our own compiler
produced and from ``repr()`` of names, never from user text, so compiling it is safe. Fusing
all expressions of a step into one function over the whole batch removes a Python call per
event per expression. A generated loop may read its fields through cells holding the key
objects of the batch's events (``key_cells``, ``adopt_keys``: ``cast``, a fused filter and map).
"""

from __future__ import annotations

from types import CodeType
from typing import Any, Callable, Dict, Optional

from engine.code_cache import compiled
from engine.errors import ConfigError
from engine.expressions import NAMESPACE


def build_function(name: str, source: str, step_id: str, extra: Optional[Dict[str, Any]] = None) -> Callable:
    """Compile ``source`` (which defines ``name``) with the expression namespace as globals."""
    scope: Dict[str, Any] = dict(NAMESPACE)
    if extra:
        scope.update(extra)
    code = _compiled(source, step_id)
    exec(code, scope)  # noqa: S102 - source generated from our own AST, see module docstring
    return scope[name]


# A code object is immutable, so shared (code_cache.compiled remembers it, in the process and on
# disk): `validate` binds a file once per environment, and each binding generates the same
# functions again (the Event Engine's maps and filters: ~80 compiles of ~180). A failure is not
# remembered: it is raised again.
def _compiled(source: str, step_id: str) -> CodeType:
    try:
        return compiled(source, f"<velocity-flow step {step_id!r}>", "exec")
    except (SyntaxError, RecursionError, MemoryError) as exc:  # CPython's limits (nesting, size), not ours
        raise ConfigError(f"this step's expressions are too complex to compile ({type(exc).__name__}: "
                          f"{getattr(exc, 'msg', None) or exc})",
                          hint="split them over several steps or map fields") from None


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


def key_cells(function: Callable, names: Dict[str, str]) -> Dict[str, object]:
    """``{field name: cell}`` of a generated ``function`` reading each field ``e[<name>]``
    through a free variable ``names[field]`` (the cells are in the order Python sorts the
    names: k10 before k2)."""
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or (), strict=True))
    return {field: cells[name] for field, name in names.items()}


def adopt_keys(cells: dict, event) -> None:
    """Let a generated loop read and set each field with the very key object of ``event``
    (a batch's first): a source's JSON reader (orjson) gives every event the same object for
    the same key, and a dict finds a key that *is* its own without comparing text (~45
    instructions per read or write). Any equal text finds the same field: only the speed
    depends on it. Exact ``str`` keys only (a subclass may have its own == and hash)."""
    if type(event) is dict:
        for key in event:
            cell = cells.get(key) if type(key) is str else None
            if cell is not None and cell.cell_contents is not key:
                cell.cell_contents = key
