"""Problems found in a topology file, located as ``file:line:column`` and rendered for people
and machines."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, List, Optional

from engine.frozen import Frozen, set_fields

ERROR = "error"
WARNING = "warning"


class Diagnostic(Frozen):  # a frozen record (engine/frozen.py): no dataclass made at import
    """One problem: where (1-based line and column), what, and what to change."""

    __slots__ = ("path", "line", "column", "message", "hint", "severity", "length")
    path: str
    line: int
    column: int
    message: str
    hint: Optional[str]
    severity: str
    length: int

    def __init__(self, path: str, line: int, column: int, message: str, hint: Optional[str] = None,
                 severity: str = ERROR, length: int = 1) -> None:
        set_fields(self, path, line, column, message, hint, severity, length)

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def to_dict(self) -> dict:
        return dict(zip(self._fields, self._values(), strict=True))

    def replace(self, **changes: Any) -> "Diagnostic":
        """A copy with ``changes`` (field=value), as ``dataclasses.replace`` made."""
        return Diagnostic(**{**self.to_dict(), **changes})


# control characters (C0 but the tab, DEL, C1) and the Unicode line and paragraph separators: a
# name or value from the file shown in a message never moves the cursor nor colours the terminal
_UNSHOWN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(text: str) -> str:
    """``text`` on one line: each character of ``_UNSHOWN`` as its escape (``\\n``, ``\\u001b``)."""
    return _UNSHOWN.sub(lambda m: json.dumps(m.group(0))[1:-1], text)


def render(diag: Diagnostic, source_lines: Optional[List[str]]) -> str:
    """``file:line:col: error: message``, the offending line with a caret, then the hint; one line
    each, whatever characters the message quotes from the file."""
    out = [f"{diag.location}: {diag.severity}: {_escaped(diag.message)}"]
    if source_lines and 1 <= diag.line <= len(source_lines):  # a character YAML refuses: one column, as \ufffd
        text = _UNSHOWN.sub("\ufffd", source_lines[diag.line - 1].rstrip("\n"))
        gutter = f"{diag.line:>5} | "
        width = max(1, min(diag.length, len(text) - diag.column + 1))
        out.append(gutter + text)
        out.append(" " * (len(gutter) - 2) + "| " + " " * (diag.column - 1) + "^" * width)
    if diag.hint:
        out.append(f"      = hint: {_escaped(diag.hint)}")
    return "\n".join(out)


def count_errors(diags: Iterable[Diagnostic]) -> int:
    return sum(1 for d in diags if d.severity == ERROR)
