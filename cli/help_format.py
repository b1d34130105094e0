"""The commands' help formatter: argparse's RawDescriptionHelpFormatter, whose width is found
without importing shutil (argparse imports it to make a formatter, which it does for every
argument added; shutil brings bz2 and lzma: ~5 ms of cpu for a command that prints no help).
The width is the one ``shutil.get_terminal_size`` gives: ``COLUMNS``, else the terminal's,
else 80; less 2, as argparse takes it."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, found as shutil finds it."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, terminal_columns() - 2 if width is None else width)
