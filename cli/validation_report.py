"""Printing validation results as text (people) or JSON (machines)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, List

from engine.binding import Validation
from engine.topology.diagnostics import ERROR, count_errors, render
from engine.topology.interpolate import redact

if TYPE_CHECKING:
    from rich.console import Console


def print_text(console: Console, result: Validation) -> None:
    from rich.markup import escape

    lines = result.document.lines
    for diag in result.diagnostics:
        color = "red" if diag.severity == ERROR else "yellow"
        text = escape(render(diag, lines))
        head, _, rest = text.partition("\n")
        console.print(f"[{color}]{head}[/{color}]" + ("\n" + rest if rest else ""), highlight=False, soft_wrap=True)
    errors = count_errors(result.diagnostics)
    warnings = len(result.diagnostics) - errors
    name = escape(result.document.path + (f" (environment {_environment(result)})" if result.environment else ""))
    if errors or result.shared_errors:
        shared = f", {result.shared_errors} more as in the base" if result.shared_errors else ""
        console.print(f"[red]{name}: {errors} error(s){shared}, {warnings} warning(s)[/red]",
                      highlight=False, soft_wrap=True)
    else:
        topology = result.topology
        shape = (f"{len(topology.sources)} source(s), {len(topology.steps)} step(s), {len(topology.sinks)} sink(s)"
                 if topology else "")
        console.print(f"[green]{name}: valid[/green] ({shape}"
                      + (f", {warnings} warning(s)" if warnings else "") + ")", highlight=False, soft_wrap=True)


def to_json(results: List[Validation]) -> str:
    return json.dumps([
        {"file": r.document.path, "environment": _environment(r), "valid": r.ok,
         "diagnostics": [d.to_dict() for d in r.diagnostics]}
        for r in results
    ], indent=2)


def _environment(result: Validation):
    """The environment's name as the file writes it: a name taken from a ``${VAR}`` is shown so."""
    return result.environment and redact(result.environment, result.document.secrets)
