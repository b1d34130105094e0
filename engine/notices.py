"""Lines of our own about the state of a running flow (a broker gone, back again), for people.

Connectors call :func:`notice`; the CLI sets the writer (which redacts values that came from
the environment). Without one, a line goes to standard error.
"""

from __future__ import annotations

import sys
from typing import Callable

_write: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731


def notice(text: str) -> None:
    _write(text)


def set_writer(write: Callable[[str], None]) -> Callable[[str], None]:
    """Use ``write`` for the lines; returns the writer it replaces."""
    global _write
    before, _write = _write, write
    return before
