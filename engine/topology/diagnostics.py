"""Problems found in a topology file, located as ``file:line:column`` and rendered for people
and machines."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, List, Optional

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: where (1-based line and column), what, and what to change."""

    path: str
    line: int
    column: int
    message: str
    hint: Optional[str] = None
    severity: str = ERROR
    length: int = 1

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def to_dict(self) -> dict:
        return asdict(self)


def render(diag: Diagnostic, source_lines: Optional[List[str]]) -> str:
    """``file:line:col: error: message``, the offending line with a caret, then the hint."""
    out = [f"{diag.location}: {diag.severity}: {diag.message}"]
    if source_lines and 1 <= diag.line <= len(source_lines):
        text = source_lines[diag.line - 1].rstrip("\n")
        gutter = f"{diag.line:>5} | "
        width = max(1, min(diag.length, len(text) - diag.column + 1))
        out.append(gutter + text)
        out.append(" " * (len(gutter) - 2) + "| " + " " * (diag.column - 1) + "^" * width)
    if diag.hint:
        out.append(f"      = hint: {diag.hint}")
    return "\n".join(out)


def count_errors(diags: Iterable[Diagnostic]) -> int:
    return sum(1 for d in diags if d.severity == ERROR)
