"""Printing validation results as text (people) or JSON (machines)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, List

from cli.plain import plain_file, unchanged_by_rich
from engine.binding import Validation
from engine.topology.diagnostics import ERROR, count_errors, render
from engine.topology.interpolate import redact

if TYPE_CHECKING:
    from rich.console import Console


def print_text(console: Console, result: Validation) -> None:
    lines = result.document.lines
    texts = [render(diag, lines) for diag in result.diagnostics]
    errors = count_errors(result.diagnostics)
    warnings = len(result.diagnostics) - errors
    path = result.document.path + (f" (environment {_environment(result)})" if result.environment else "")
    valid = not (errors or result.shared_errors)
    if not valid:
        shared = f", {result.shared_errors} more as in the base" if result.shared_errors else ""
        summary = f"{errors} error(s){shared}, {warnings} warning(s)"
    else:
        topology = result.topology
        shape = (f"{len(topology.sources)} source(s), {len(topology.steps)} step(s), {len(topology.sinks)} sink(s)"
                 if topology else "")
        summary = f" ({shape}" + (f", {warnings} warning(s)" if warnings else "") + ")"
    file = plain_file(console)
    if file is not None and all(unchanged_by_rich(text) for text in (*texts, path)):  # as rich would print them
        file.write("".join(f"{text}\n" for text in texts) + f"{path}: {'valid' if valid else ''}{summary}\n")
        file.flush()
        return
    from rich.markup import escape

    for diag, text in zip(result.diagnostics, texts, strict=True):
        color = "red" if diag.severity == ERROR else "yellow"
        head, _, rest = escape(text).partition("\n")
        console.print(f"[{color}]{head}[/{color}]" + ("\n" + rest if rest else ""), highlight=False, soft_wrap=True)
    name = escape(path)
    console.print(f"[green]{name}: valid[/green]{summary}" if valid else f"[red]{name}: {summary}[/red]",
                  highlight=False, soft_wrap=True)


def to_json(results: List[Validation]) -> str:
    return json.dumps([
        {"file": r.document.path, "environment": _environment(r), "valid": r.ok,
         "diagnostics": [d.to_dict() for d in r.diagnostics]}
        for r in results
    ], indent=2)


def _environment(result: Validation):
    """The environment's name as the file writes it: a name taken from a ``${VAR}`` is shown so."""
    return result.environment and redact(result.environment, result.document.secrets)
