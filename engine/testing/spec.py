"""Read a topology test file (``<name>.test.yaml``) into cases and expectations, each with its
position in the file; every problem is a located ``Diagnostic``, like validate's.

A test file names its topology (relative to itself), optional ``env`` values for it, and
``tests``: cases with ``inputs`` per source and ``expect``ations at places of the flow.
The topology is validated here too, so a broken topology is reported before anything runs.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from engine.binding import Validation, validate_file
from engine.binding.model import Topology
from engine.expressions import Expression, ExpressionError, compile_expression
from engine.hints import did_you_mean
from engine.testing.inputs import read_inputs
from engine.testing.tables import Rows, read_tables
from engine.testing.timeline import Steps, read_clock, read_steps
from engine.topology.diagnostics import Diagnostic
from engine.topology.environments import UnknownEnvironment
from engine.topology.interpolate import redact
from engine.topology.loader import Document, NodePath, load_file

Where = Tuple[int, int]  # 1-based line and column in the test file
PLACE_KINDS = ("events", "contains", "count", "where")
CASE_KEYS = ("name", "clock", "inputs", "tables", "expect", "dead_letters")
DEAD_KEYS = ("step", "error", "count")


@dataclass
class PlaceExpectation:
    """What must hold for the events leaving one place (``at``) of the flow."""

    at: str
    where: Where
    events: Optional[List[Any]] = None
    contains: Optional[List[Dict[str, Any]]] = None
    count: Optional[int] = None
    predicates: List[Tuple[Expression, Where]] = field(default_factory=list)
    spots: Dict[str, Where] = field(default_factory=dict)  # "count", "contains.0", ...: where each is written

    def spot(self, name: str) -> Where:
        return self.spots.get(name, self.where)


@dataclass
class DeadLetterExpectation:
    """Dead letters of ``step`` whose error contains ``error``: at least one, or ``count``."""

    where: Where
    step: Optional[str] = None
    error: Optional[str] = None
    count: Optional[int] = None


@dataclass
class Case:
    name: str
    where: Where
    timeline: Steps  # raw lines per source, at this much processing time after ``clock``
    expect: List[PlaceExpectation]
    dead_letters: Optional[List[DeadLetterExpectation]]  # [] means: no dead letter at all
    clock: Optional[datetime] = None  # processing time at the start (None: the system's when it runs)
    tables: Rows = field(default_factory=dict)  # lookup step -> the rows it reads instead of its table


@dataclass
class TestFile:
    path: str
    document: Document
    problems: List[Diagnostic] = field(default_factory=list)
    validation: Optional[Validation] = None  # of the topology
    cases: List[Case] = field(default_factory=list)

    __test__ = False  # not a pytest class

    @property
    def topology(self) -> Optional[Topology]:
        return self.validation.topology if self.validation else None


def places_of(topology: Topology) -> List[str]:
    """Where an expectation may look: sources, steps, ``route.output``s, ``sink:<name>``."""
    places = list(topology.sources)
    for spec in topology.steps:
        if spec.operator.kind == "route":
            places += [f"{spec.id}.{output}" for output in getattr(spec.operator, "outputs", [])]
        else:
            places.append(spec.id)
    return places + [f"sink:{name}" for name in topology.sinks]


class _Reader:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: List[Diagnostic] = []

    def at(self, node: NodePath, key: bool = False) -> Where:
        return self.doc.locate(node, at_key=key)

    def problem(self, node: NodePath, message: str, hint: Optional[str] = None, key: bool = False) -> None:
        line, column = self.at(node, key)
        secrets = self.doc.secrets  # a ${VAR} value quoted in a message is shown as ${VAR}, as validate does
        self.problems.append(Diagnostic(self.doc.path, line, column, redact(message, secrets),
                                        hint=redact(hint, secrets) if hint else hint))

    def mapping(self, value: Any, node: NodePath, what: str, keys: Tuple[str, ...]) -> Optional[dict]:
        if not isinstance(value, dict):
            self.problem(node, f"{what} must be a mapping")
            return None
        for key in value:
            if key not in keys:
                self.problem((*node, key), f"unknown key {str(key)!r} in {what}", key=True,
                             hint=did_you_mean(str(key), keys) or "expected one of: " + ", ".join(keys))
        return value

    def count(self, value: Any, node: NodePath) -> Optional[int]:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problem(node, "count must be a whole number, 0 or more")
            return None
        return int(value)


def load_test_file(path: str) -> TestFile:
    """The test file at ``path``, its topology validated; ``problems`` says what is wrong."""
    unreadable = _unreadable(path)
    if unreadable:  # the loader would call a symlink loop "no such file"
        return TestFile(path, Document(path, "", None),
                        [Diagnostic(path, 1, 1, f"cannot read test file: {unreadable}")])
    doc = load_file(path, what="test file")
    test = TestFile(path, doc, list(doc.problems))
    if doc.data is None:
        if not doc.problems:  # empty, or only comments: it must not pass as a file whose cases all passed
            test.problems.append(Diagnostic(path, 1, 1, "the test file is empty",
                                            hint="write 'topology: FLOW.yaml' and a list of 'tests'"))
        return test
    reader = _Reader(doc)
    data = reader.mapping(doc.data, (), "a test file", ("topology", "environment", "env", "tests"))
    if data is None:
        test.problems += reader.problems
        return test
    env = _env(reader, data.get("env"))
    topology_path = data.get("topology")
    if not isinstance(topology_path, str) or not topology_path:
        reader.problem(("topology",), "'topology' must name the topology file, relative to this file",
                       hint="topology: my_flow.yaml")
    elif _topology_found(reader, os.path.dirname(path), topology_path):
        full = os.path.normpath(os.path.join(os.path.dirname(path), topology_path))
        environment = data.get("environment")
        if environment is not None and not isinstance(environment, str):
            reader.problem(("environment",), "'environment' must name one of the topology's environments")
            environment = None
        try:
            test.validation = validate_file(full, {**os.environ, **env}, environment=environment)
        except UnknownEnvironment as exc:
            reader.problem(("environment",), str(exc).split(": ", 1)[-1],
                           hint="the environments are the keys of the topology's 'environments' section")
    topology = test.topology
    cases = data.get("tests")
    if not isinstance(cases, list) or not cases:
        reader.problem(("tests",), "'tests' must be a list of at least one test case")
    elif topology is not None:
        places = places_of(topology)
        names = set()
        for index, item in enumerate(cases):
            case = _case(reader, item, ("tests", index), topology, places, os.path.dirname(path))
            if case is not None:
                if case.name in names:
                    reader.problem(("tests", index, "name"), f"duplicate test name '{case.name}'")
                names.add(case.name)
                test.cases.append(case)
    test.problems += reader.problems
    return test


def _unreadable(path: str) -> Optional[str]:
    """Why ``path`` cannot be read as a test file (a dangling symlink, a loop, a directory), or None."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None if os.path.isfile(path) else "not a regular file"


def _topology_found(reader: _Reader, folder: str, name: str) -> bool:
    """Whether ``name`` may be the topology; if not, why, at the test file's ``topology:`` (the
    loader would locate a missing file at line 1 of that file, and a test file has no ``steps``)."""
    full = os.path.join(folder, name)
    if name.endswith((".test.yaml", ".test.yml")):
        reader.problem(("topology",), f"'topology' names a test file, {name!r}: name the topology it tests",
                       hint=f"topology: {name.replace('.test.', '.')}")
        return False
    if os.path.isfile(full):
        return True
    import difflib  # only for a missing topology (hints.py)

    try:  # by stem: any two .yaml names look alike to difflib
        stems = {os.path.splitext(f)[0]: f for f in os.listdir(os.path.dirname(full) or ".")
                 if f.endswith((".yaml", ".yml")) and ".test." not in f}
    except OSError:
        stems = {}
    close = difflib.get_close_matches(os.path.splitext(os.path.basename(name))[0], sorted(stems), n=1, cutoff=0.6)
    reader.problem(("topology",), f"the topology file {full!r} "
                   + ("is not a regular file" if os.path.exists(full) else "does not exist"),
                   hint=f"did you mean '{stems[close[0]]}'?" if close
                   else "'topology' is relative to the folder of this test file")
    return False


def _env(reader: _Reader, value: Any) -> Dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        reader.problem(("env",), "'env' must map variable names to values")
        return {}
    return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


def _case(reader: _Reader, item: Any, node: NodePath, topology: Topology, places: List[str],
          folder: str) -> Optional[Case]:
    data = reader.mapping(item, node, "a test case", CASE_KEYS)
    if data is None:
        return None
    name = _name(reader, data.get("name"), (*node, "name") if "name" in data else node)
    if name is None:
        return None
    before = len(reader.problems)
    clock = read_clock(lambda message, hint: reader.problem((*node, "clock"), message, hint=hint), data.get("clock"))
    timeline = read_steps(data.get("inputs"), (*node, "inputs"),
                          lambda where, message, hint: reader.problem(where, message, hint=hint),
                          lambda value, where: read_inputs(reader, value, where, topology, folder), clock)
    tables = read_tables(reader, data.get("tables"), (*node, "tables"), topology)
    expect = [e for i, raw in enumerate(_list(reader, data.get("expect"), (*node, "expect")))
              if (e := _place(reader, raw, (*node, "expect", i), places)) is not None]
    dead = None
    if "dead_letters" in data:
        dead = [d for i, raw in enumerate(_list(reader, data["dead_letters"], (*node, "dead_letters")))
                if (d := _dead(reader, raw, (*node, "dead_letters", i), topology)) is not None]
    if not data.get("expect") and dead is None:
        reader.problem(node, f"test '{name}' expects nothing", hint="add 'expect' or 'dead_letters'")
    if len(reader.problems) > before:
        return None
    return Case(name, reader.at(node), timeline, expect, dead, clock, tables)


def _name(reader: _Reader, name: Any, node: NodePath) -> Optional[str]:
    """A case's name is text a report can show: a terminal, a JUnit file and ``--name`` take it."""
    if name is None or name == "":
        reader.problem(node, "a test case needs a 'name'", hint="name: what the case shows")
    elif not isinstance(name, str):
        reader.problem(node, f"a test name is text, not {_kind(name)}", hint=f'name: "{name}"')
    elif bad := [c for c in name if unicodedata.category(c) in ("Cc", "Cs")]:  # controls, lone surrogates
        reader.problem(node, f"a test name cannot hold the control character U+{ord(bad[0]):04X}",
                       hint="remove its escape (\\x.., \\u..) from the name; a name is one line of text")
    else:
        return name
    return None


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "a mapping"}.get(
        type(value), f"a {type(value).__name__}")


def _list(reader: _Reader, value: Any, node: NodePath) -> List[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        reader.problem(node, f"'{node[-1]}' must be a list")
        return []
    return value


def _place(reader: _Reader, raw: Any, node: NodePath, places: List[str]) -> Optional[PlaceExpectation]:
    data = reader.mapping(raw, node, "an expectation", ("at", *PLACE_KINDS))
    if data is None:
        return None
    at = data.get("at")
    if at not in places:
        close = [p for p in places if p.split(":")[-1] == str(at) or p.startswith(f"{at}.")]
        message = f"'at' must be a place of the topology, not {at!r}" if "at" in data else "an expectation needs 'at'"
        reader.problem((*node, "at") if "at" in data else node, message,
                       hint=("did you mean " + " or ".join(f"'{p}'" for p in close) + "?") if close
                       else did_you_mean(str(at), places) or "places: " + ", ".join(places))
        return None
    if not any(kind in data for kind in PLACE_KINDS):
        reader.problem(node, f"the expectation at '{at}' checks nothing", hint="add " + ", ".join(PLACE_KINDS))
        return None
    expectation = PlaceExpectation(str(at), reader.at((*node, "at")), count=reader.count(data.get("count"),
                                                                                         (*node, "count")))
    for kind in PLACE_KINDS:
        if kind in data:
            expectation.spots[kind] = reader.at((*node, kind))
    contains = data.get("contains")
    for index in range(len(contains) if isinstance(contains, list) else 0):
        expectation.spots[f"contains.{index}"] = reader.at((*node, "contains", index))
    for kind in ("events", "contains"):
        if kind in data:
            items = data[kind]
            if not isinstance(items, list) or (kind == "contains" and not all(isinstance(i, dict) for i in items)):
                reader.problem((*node, kind), f"'{kind}' must be a list of " + ("events" if kind == "events"
                                                                               else "mappings (fields to match)"))
            else:
                setattr(expectation, kind, items)
    where = data.get("where")
    texts = [where] if isinstance(where, str) else where if isinstance(where, list) else None
    if where is not None and (texts is None or not all(isinstance(t, str) for t in texts)):
        reader.problem((*node, "where"), "'where' must be an expression or a list of expressions")
    for index, text in enumerate(texts or []):
        spot = (*node, "where") if isinstance(where, str) else (*node, "where", index)
        try:
            expectation.predicates.append((compile_expression(text), reader.at(spot)))
        except ExpressionError as exc:
            reader.problem(spot, f"invalid expression: {exc}")
    return expectation


def _dead(reader: _Reader, raw: Any, node: NodePath, topology: Topology) -> Optional[DeadLetterExpectation]:
    data = reader.mapping(raw, node, "a dead-letter expectation", DEAD_KEYS)
    if data is None:
        return None
    for key in ("step", "error"):
        if key in data and not isinstance(data[key], str):
            reader.problem((*node, key), f"'{key}' must be text")
            return None
    steps = [*topology.sources, *(spec.id for spec in topology.steps), *(f"sink:{name}" for name in topology.sinks)]
    step = data.get("step")
    # a misspelt step never has a dead letter: 'count: 0' would pass whatever the flow does
    envelope = step is not None and step.startswith("sink:") and step.rpartition(":")[0] in steps  # sink:NAME:envelope
    if step is not None and step not in steps and not envelope:
        reader.problem((*node, "step"), f"no step, source or sink of the topology is called {step!r}",
                       hint=did_you_mean(step, steps) or "dead letters come from: " + ", ".join(steps))
        return None
    if not data:
        reader.problem(node, "a dead-letter expectation needs 'step', 'error' or 'count'")
        return None
    return DeadLetterExpectation(reader.at(node), data.get("step"), data.get("error"),
                                 reader.count(data.get("count"), (*node, "count")))
