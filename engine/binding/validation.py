"""Validate a topology file completely: load, read definitions, bind. Every problem, each
located at ``file:line:column`` with a hint, in one pass; the bound topology when there is none."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import List, Mapping, Optional

from engine.binding.bind import Binder
from engine.binding.model import Topology
from engine.topology.diagnostics import Diagnostic, count_errors
from engine.topology.interpolate import redact
from engine.topology.loader import Document, load_file, load_text
from engine.topology.reading import Reader, unused
from engine.topology.reporter import Reporter


@dataclass
class Validation:
    """The outcome of validating one file."""

    document: Document
    diagnostics: List[Diagnostic] = field(default_factory=list)
    topology: Optional[Topology] = None

    @property
    def ok(self) -> bool:
        return count_errors(self.diagnostics) == 0


def validate_file(path: str, env: Optional[Mapping[str, str]] = None) -> Validation:
    return _validate(load_file(path, env))


def validate_text(path: str, text: str, env: Optional[Mapping[str, str]] = None) -> Validation:
    return _validate(load_text(path, text, env))


def _validate(doc: Document) -> Validation:
    reporter = Reporter(doc)
    topology = _checked(doc, reporter)
    diagnostics = sorted(reporter.diagnostics, key=lambda d: (d.line, d.column))
    if doc.secrets:  # values from the environment never appear in a message
        diagnostics = [replace(d, message=redact(d.message, doc.secrets), hint=d.hint and redact(d.hint, doc.secrets))
                       for d in diagnostics]
    result = Validation(doc, diagnostics)
    result.topology = topology if result.ok else None
    return result


def _checked(doc: Document, reporter: Reporter) -> Optional[Topology]:
    if doc.problems and doc.data is None:
        return None
    if not isinstance(doc.data, dict):
        reporter.diagnostics.append(Diagnostic(doc.path, 1, 1, "a topology file must be a mapping",
                                               hint="start with 'version: 1' and 'name: ...'"))
        return None
    reader = Reader(reporter)
    definition = reader.read()
    if definition is None:
        return None
    topology = Binder(definition, reporter, reader.shape_broken).bind()
    if not reporter.errors:  # warnings would only add noise to errors
        unused(definition, reporter, definition.steps)
    return topology
