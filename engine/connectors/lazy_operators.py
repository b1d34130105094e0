"""Bytewax's operators, each one's data-model class made at its first call instead of at import.

Importing ``bytewax.operators`` runs ``bytewax.dataflow.operator`` on its 35 operators, and each
makes a frozen dataclass (``dataclasses.make_dataclass``: an ``exec`` per generated method). That
was ~20-25 ms of the CPU of every start-up (``import bytewax.operators`` alone: 78-80 ms, 54-61 ms
with this, 2026-12-05), while a topology calls a handful of them.

``operator`` here is Bytewax's decorator, lazy: the decorated function keeps its name, signature
and docstring (``functools.wraps``), and its first call makes the class and the operator function
exactly as Bytewax's decorator would, then calls that; later calls go straight to it. The steps a
flow is built of are the same objects of the same classes. ``bytewax.operators`` is imported here,
with the lazy decorator in place only for that import (any other ``@operator``, a user's or in
``bytewax.operators.windowing``, gets Bytewax's own); the engine takes ``op``, ``operator``,
``StatefulBatchLogic`` and ``each`` (``op.map`` as one step) from this module
(tests/test_architecture.py holds every other module to it), so it is the first to import
``bytewax.operators``. If something imported it before, it is used as it is. Bytewax 0.21.1 is
its last release (tests/compiler/test_lazy_operators.py checks the two ways build the same steps).
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any, Callable, Optional

import bytewax.dataflow as _dataflow

_eager = _dataflow.operator


def operator(builder: Optional[Callable] = None, *, _core: bool = False) -> Any:
    """``bytewax.dataflow.operator``, making the operator at its first call."""

    def decorate(builder: Callable) -> Callable:
        made: Optional[Callable] = None

        @functools.wraps(builder)
        def lazy(*args, **kwargs):
            nonlocal made
            if made is None:
                made = _eager(_core=_core)(builder)
            return made(*args, **kwargs)

        return lazy

    return decorate if builder is None else decorate(builder)


def _imported():
    if "bytewax.operators" not in sys.modules:
        _dataflow.operator = operator
        try:
            import bytewax.operators  # noqa: F401 - taken from sys.modules below
        finally:
            _dataflow.operator = _eager
    return sys.modules["bytewax.operators"]


def each(step_id: str, up: Any, function: Callable[[Any], Any]) -> Any:
    """``op.map`` as one core step: ``function`` of every item, given on as a list. Bytewax's
    ``map`` nests a ``flat_map_batch`` named ``flat_map_batch`` whose mapper is a generator: one
    operator more to make at start-up and a generator to run per batch (the engine's items are
    batches, so a call here takes the few items of one activation)."""
    return op.flat_map_batch(step_id, up, lambda items: [function(item) for item in items])


if TYPE_CHECKING:
    import bytewax.operators as op
    from bytewax.operators import StatefulBatchLogic
else:
    op = _imported()
    StatefulBatchLogic = op.StatefulBatchLogic
