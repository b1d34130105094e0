"""Report problems at a node of the document: ``file:line:column``, caret length, hint."""

from __future__ import annotations

from typing import Any, List, Optional

from engine.errors import ConfigError
from engine.topology.diagnostics import ERROR, Diagnostic, count_errors
from engine.topology.loader import Document, NodePath


class Reporter:
    """Collects the diagnostics of one document; reading and binding both report through it."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.diagnostics: List[Diagnostic] = list(doc.problems)

    @property
    def errors(self) -> int:
        return count_errors(self.diagnostics)

    def report(self, node: NodePath, message: str, hint: Optional[str] = None, *, at_key: bool = False,
               offset: Optional[int] = None, severity: str = ERROR) -> None:
        line, column = self.doc.locate(node, at_key=at_key, offset=offset)
        length = self._length(node, at_key, offset)
        self.diagnostics.append(Diagnostic(self.doc.path, line, column, message, hint, severity, length))

    def config_error(self, base: NodePath, exc: ConfigError, severity: str = ERROR) -> None:
        """A component's error, its path relative to the component's options at ``base``."""
        node = (*base, *exc.path)
        self.report(node, exc.message, exc.hint, offset=exc.offset, severity=severity,
                    at_key=exc.offset is None and bool(exc.path) and isinstance(exc.path[-1], str)
                    and not isinstance(self.value(node), str))

    def value(self, node: NodePath) -> Any:
        value = self.doc.data
        for part in node:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def _length(self, node: NodePath, at_key: bool, offset: Optional[int]) -> int:
        if at_key and node and isinstance(node[-1], str):
            return len(node[-1])
        value = self.value(node)
        if isinstance(value, str) and offset is None and self.doc.positions.get(tuple(node)) is not None:
            return max(1, len(value))
        return 1
