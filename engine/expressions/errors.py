"""The one error the expression compiler raises: what is wrong, and where in the text."""

from __future__ import annotations

from typing import Optional


class ExpressionError(Exception):
    """A problem in an expression's text, at ``offset`` (0-based) for ``length`` characters."""

    def __init__(self, message: str, offset: int = 0, length: int = 1, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.length = max(1, length)
        self.hint = hint

    @property
    def column(self) -> int:
        """1-based column inside the expression text."""
        return self.offset + 1

    def __str__(self) -> str:
        where = f"column {self.column}: {self.message}"
        return f"{where} ({self.hint})" if self.hint else where
