"""Validate a topology file completely: load, select the environment, read definitions, bind.
Every problem, each located at ``file:line:column`` with a hint, in one pass; the bound topology
when there is none."""

from __future__ import annotations

from typing import Callable, List, Mapping, Optional

from engine.binding.bind import Binder
from engine.binding.model import Topology
from engine.topology.diagnostics import Diagnostic, count_errors
from engine.topology.environments import environment_names, select_environment
from engine.topology.interpolate import redact
from engine.topology.loader import Document, load_file, load_text
from engine.topology.quick_shape import unchanged_data
from engine.topology.reading import Reader, unused
from engine.topology.reporter import Reporter


class Validation:  # a plain class: a dataclass costs ~2M instructions to make at import
    """The outcome of validating one file."""

    def __init__(self, document: Document, diagnostics: Optional[List[Diagnostic]] = None,
                 topology: Optional[Topology] = None, environment: Optional[str] = None,
                 shared_errors: int = 0) -> None:
        self.document = document
        self.diagnostics: List[Diagnostic] = [] if diagnostics is None else diagnostics
        self.topology = topology
        self.environment = environment  # None: the base (the file without an environment)
        self.shared_errors = shared_errors  # errors the base reported already (validate_every_environment)

    def __repr__(self) -> str:
        return (f"Validation(document={self.document!r}, diagnostics={self.diagnostics!r}, topology={self.topology!r}, "
                f"environment={self.environment!r}, shared_errors={self.shared_errors!r})")

    @property
    def ok(self) -> bool:
        return count_errors(self.diagnostics) == 0 and not self.shared_errors


Loaded = Optional[Callable[[Document], None]]  # told of the document (the base, or the environment) once loaded


def validate_file(path: str, env: Optional[Mapping[str, str]] = None, environment: Optional[str] = None,
                  loaded: Loaded = None) -> Validation:
    """``environment``: the one selected (engine/topology/environments.py); raises
    ``UnknownEnvironment`` when the file has no such environment."""
    doc = select_environment(load_file(path, env), environment)
    if loaded is not None:
        loaded(doc)
    return _validate(doc, environment)


def validate_text(path: str, text: str, env: Optional[Mapping[str, str]] = None,
                  environment: Optional[str] = None) -> Validation:
    return _validate(select_environment(load_text(path, text, env), environment), environment)


def validate_every_environment(path: str, env: Optional[Mapping[str, str]] = None,
                               loaded: Loaded = None) -> List[Validation]:
    """The base, then each environment of the file. A problem the base has is reported once,
    by the base; an environment's own problems say which environment they are in."""
    doc = load_file(path, env)
    with unchanged_data():  # validating never changes a document: the environments share the base's parts
        base_doc = select_environment(doc, None)
        if loaded is not None:
            loaded(base_doc)
        base = _validate(base_doc, None)
        results = [base]
        seen = {(d.line, d.column, d.message) for d in base.diagnostics}
        for name in environment_names(doc):
            result = _validate(select_environment(doc, name), name)
            own = [d for d in result.diagnostics if (d.line, d.column, d.message) not in seen]
            result.shared_errors = count_errors(result.diagnostics) - count_errors(own)
            shown = redact(name, doc.secrets)  # an environment's name may come from a ${VAR} too
            result.diagnostics = [d.replace(message=f"in environment '{shown}': {d.message}") for d in own]
            results.append(result)
    return results


def _validate(doc: Document, environment: Optional[str] = None) -> Validation:
    reporter = Reporter(doc)
    topology = _checked(doc, reporter)
    diagnostics = sorted(reporter.diagnostics, key=lambda d: (d.line, d.column))
    if doc.secrets:  # values from the environment never appear in a message
        diagnostics = [d.replace(message=redact(d.message, doc.secrets), hint=d.hint and redact(d.hint, doc.secrets))
                       for d in diagnostics]
    result = Validation(doc, diagnostics, environment=environment)
    result.topology = topology if result.ok else None
    return result


def _checked(doc: Document, reporter: Reporter) -> Optional[Topology]:
    if doc.problems and doc.data is None:
        return None
    if not isinstance(doc.data, dict):
        reporter.diagnostics.append(Diagnostic(doc.path, 1, 1, "a topology file must be a mapping",
                                               hint="start with 'version: 1' and 'name: ...'"))
        return None
    if "tests" in doc.data and "topology" in doc.data and not {"steps", "sources", "sinks"} & set(doc.data):
        # a topology's test file (docs/testing.md): one line saying so, not every missing key
        reporter.diagnostics.append(Diagnostic(doc.path, 1, 1, "this is a test file of a topology, not a topology",
                                               hint=f"run it with: velocity-flow test {doc.path}"))
        return None
    reader = Reader(reporter)
    definition = reader.read()
    if definition is None:
        return None
    topology = Binder(definition, reporter, reader.shape_broken).bind()
    if not reporter.errors:  # warnings would only add noise to errors
        unused(definition, reporter, definition.steps)
    return topology
