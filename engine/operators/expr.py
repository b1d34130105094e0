"""Compile an expression option of an operator, reporting errors at the option's path."""

from __future__ import annotations

from typing import Sequence, Union

from engine.errors import ConfigError
from engine.expressions import ExpressionError, compile_expression
from engine.operators.fields import Fields


def compile_option(text: str, fields: Fields, path: Sequence[Union[str, int]]):
    """The compiled expression, or ConfigError pointing inside the option's text."""
    try:
        return compile_expression(text, fields)
    except ExpressionError as exc:
        raise ConfigError(exc.message, path, offset=exc.offset, hint=exc.hint) from None
