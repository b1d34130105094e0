"""``velocity-flow graph --format svg|png -o FILE``: the DOT text rendered by Graphviz ``dot``.

Graphviz is a system program, not a Python package: when ``dot`` is not on ``PATH`` the command
says so and how to get it (exit 3: the work could not start, as with a missing input), and
``--format dot`` still gives the text to render elsewhere.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Optional

from rich.console import Console

from cli.exits import EXIT_FAILED, EXIT_OK, error_line

PICTURES = ("svg", "png")
MISSING_DOT = ("Graphviz 'dot' is not installed (not found on PATH); install Graphviz "
               "(Debian/Ubuntu: apt-get install graphviz, Fedora: dnf install graphviz, macOS: brew install graphviz) "
               "or use --format dot and render the text elsewhere")


def render(dot_text: str, picture: str, output: Optional[str], err: Console) -> int:
    """``dot_text`` as an SVG or PNG in ``output`` (SVG on standard output when None)."""
    program = shutil.which("dot")
    if program is None:
        err.print(error_line(MISSING_DOT, markup=True), highlight=False)
        return EXIT_FAILED
    command = [program, f"-T{picture}"] + ([f"-o{output}"] if output else [])
    try:
        result = subprocess.run(command, input=dot_text.encode("utf-8"), capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        err.print(error_line(f"Graphviz dot: {exc}", markup=True), highlight=False)
        return EXIT_FAILED
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip().splitlines()
        err.print(error_line(f"Graphviz dot failed (exit {result.returncode})" + (f": {reason[0]}" if reason else ""),
                             markup=True), highlight=False)
        return EXIT_FAILED
    if output is None:
        print(result.stdout.decode("utf-8", "replace"), end="")
    return EXIT_OK
