"""Compile an expression option of an operator, reporting errors at the option's path.

Warnings (a field read that looks like a typo of a known field) do not stop the operator
from being built: they go to the collector that validation opens around it, if any.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, List, Optional, Sequence, Union

from engine.errors import ConfigError
from engine.expressions import ExpressionError, compile_expression
from engine.operators.fields import Fields

_WARNINGS: ContextVar[Optional[List[ConfigError]]] = ContextVar("velocity_flow_warnings", default=None)


@contextmanager
def collected_warnings() -> Iterator[List[ConfigError]]:
    """The warnings of every expression compiled inside the block, located like errors."""
    found: List[ConfigError] = []
    token = _WARNINGS.set(found)
    try:
        yield found
    finally:
        _WARNINGS.reset(token)


def compile_option(text: str, fields: Fields, path: Sequence[Union[str, int]], offset: int = 0):
    """The compiled expression, or ConfigError pointing inside the option's text (``offset``:
    where ``text`` starts in the option, when it is a part of it)."""
    try:
        expression = compile_expression(text, fields)
    except ExpressionError as exc:
        raise ConfigError(exc.message, path, offset=exc.offset + offset, hint=exc.hint) from None
    warnings = _WARNINGS.get()
    if warnings is not None:
        warnings.extend(ConfigError(n.message, path, offset=n.offset + offset, hint=n.hint) for n in expression.notes)
    return expression
