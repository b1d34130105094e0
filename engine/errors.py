"""Errors raised while building a flow from its configuration.

Operators and connectors never see YAML: they report a problem with the *path* of the
offending option inside their own configuration (``("window", "tumbling")``), and, for an
expression, the character offset inside it. The topology room maps that back to
``file:line:column``.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

ConfigPath = Tuple[Union[str, int], ...]


class ConfigError(Exception):
    """A configuration value is wrong; ``path`` is relative to the step's operator config."""

    def __init__(
        self,
        message: str,
        path: Sequence[Union[str, int]] = (),
        *,
        offset: Optional[int] = None,
        hint: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path: ConfigPath = tuple(path)
        self.offset = offset
        self.hint = hint

    def under(self, *prefix: Union[str, int]) -> "ConfigError":
        """The same error with its path nested under ``prefix``."""
        return ConfigError(self.message, prefix + self.path, offset=self.offset, hint=self.hint)
