"""Validate a topology file completely and build the model: every problem, each located at
``file:line:column`` with a hint, in one pass."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, List, Mapping, Optional

from engine.errors import ConfigError
from engine.operators.expr import collected_warnings
from engine.operators.jsonschemas import EventSchema
from engine.operators.registry import operator_class, operator_names
from engine.operators.union import merge_fields
from engine.topology import graph
from engine.topology.diagnostics import ERROR, WARNING, Diagnostic, count_errors
from engine.topology.interpolate import EnvText, as_expression, redact
from engine.topology.loader import Document, NodePath, load_file, load_text
from engine.topology.model import SinkSpec, SourceSpec, StepSpec, TopicSpec, Topology
from engine.topology.schema import check_shape
from engine.operators.decode import META_FIELD
from engine.topology.sink_checks import DEAD_LETTER_COLUMNS, duckdb_columns, duckdb_tables, kafka_envelope

SINK_KINDS = ("file", "stdout", "duckdb", "kafka")
SOURCE_KINDS = ("file", "kafka")
# Options that are expressions, per operator ("*": every value of the mapping). A ${VAR} in
# them is placed as a literal (interpolate.as_expression), never as expression syntax.
EXPRESSION_OPTIONS = {
    "filter": [()], "key": [()], "route": [("when", "*")], "branch": [("when", "*")],
    "map": [("fields", "*"), ("key",)], "aggregate": [("key",), ("compute", "*"), ("window", "event_time")],
    "micro_batch": [("key",)], "with_previous": [("key",)], "merge_transactions": [("row",), ("group",)],
}
KAFKA_SINK_EXPRESSIONS = [("key",), ("topic_from",), ("headers", "*")]


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
    result = Validation(doc, list(doc.problems))
    if doc.problems and doc.data is None:
        return result
    if not isinstance(doc.data, dict):
        result.diagnostics.append(Diagnostic(doc.path, 1, 1, "a topology file must be a mapping",
                                             hint="start with 'version: 1' and 'name: ...'"))
        return result
    _Checker(doc, result).run()
    result.diagnostics.sort(key=lambda d: (d.line, d.column))
    if doc.secrets:  # values from the environment never appear in a message
        result.diagnostics = [replace(d, message=redact(d.message, doc.secrets), hint=redact(d.hint, doc.secrets))
                              for d in result.diagnostics]
    if not result.ok:
        result.topology = None
    elif result.topology is not None:
        result.topology.secrets = dict(doc.secrets)
    return result


def _section(data: dict, key: str) -> dict:
    """A top-level mapping (sources, sinks, topics); anything else is reported by the shape check."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _options(spec: dict, kind: Optional[str]) -> dict:
    """A connector's options; a connector written as a list or scalar is a shape error."""
    value = spec.get(kind) if kind else None
    return dict(value) if isinstance(value, dict) else {}


def _config_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _kafka_brokers_by_topic(topology: Topology) -> Dict[str, str]:
    """Topic -> brokers, from the kafka sources and sinks that name the topic."""
    found: Dict[str, str] = {}
    connectors = [s.options for s in topology.sources.values() if s.kind == "kafka"]
    connectors += [s.options for s in [*topology.sinks.values(), topology.dead_letter] if s and s.kind == "kafka"]
    for options in connectors:
        brokers = options.get("brokers")
        for topic in [options.get("topic"), *(options.get("topics") or [])]:
            if topic and brokers:
                found.setdefault(topic, brokers if isinstance(brokers, str) else ",".join(brokers))
    return found


class _Checker:
    def __init__(self, doc: Document, result: Validation) -> None:
        self.doc, self.result, self.data = doc, result, doc.data
        steps = self.data.get("steps")
        self.steps_raw: List[dict] = [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
        self.shape_broken: set = set()

    # reporting -----------------------------------------------------------------------------
    def report(self, node: NodePath, message: str, hint: Optional[str] = None, *, at_key: bool = False,
               offset: Optional[int] = None, severity: str = ERROR) -> None:
        line, column = self.doc.locate(node, at_key=at_key, offset=offset)
        length = self._length(node, at_key, offset)
        self.result.diagnostics.append(Diagnostic(self.doc.path, line, column, message, hint, severity, length))

    def _length(self, node: NodePath, at_key: bool, offset: Optional[int]) -> int:
        if at_key and node and isinstance(node[-1], str):
            return len(node[-1])
        value = self._value(node)
        if isinstance(value, str) and offset is None and not self.doc.positions.get(tuple(node), None) is None:
            return max(1, len(value))
        return 1

    def _value(self, node: NodePath):
        value = self.data
        for part in node:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def config_error(self, base: NodePath, exc: ConfigError, severity: str = ERROR) -> None:
        node = (*base, *exc.path)
        self.report(node, exc.message, exc.hint, offset=exc.offset, severity=severity,
                    at_key=exc.offset is None and bool(exc.path) and isinstance(exc.path[-1], str)
                    and not isinstance(self._value(node), str))

    def literal_env(self, config, paths, node: NodePath):
        """``config`` with each interpolated expression option rebuilt so ${VAR} values are literals."""
        for path in paths:
            if not path:
                config = self._as_expression(config, node)
                continue
            parent = config
            for part in path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            keys = list(parent) if path[-1] == "*" else [path[-1]]
            for key in keys:
                if key in parent:
                    parent[key] = self._as_expression(parent[key], (*node, *path[:-1], key))
        return config

    def _as_expression(self, value, node: NodePath):
        if not isinstance(value, EnvText):
            return value
        try:
            return as_expression(value)
        except ValueError as exc:
            self.report(node, str(exc), "use the variable as a value, or write the field name in the file")
            return value

    # stages ---------------------------------------------------------------------------------
    def run(self) -> None:
        for problem in check_shape(self.data):
            self.report(problem.path, problem.message, problem.hint, at_key=problem.at_key)
            self.shape_broken.add(problem.path[:2])
        if count_errors(self.result.diagnostics) and not isinstance(self.data.get("steps", []), list):
            return
        topology = Topology(name=str(self.data.get("name", "topology")), path=self.doc.path,
                            description=str(self.data.get("description", "")))
        self._sources(topology)
        deps = self._references(topology)
        if deps is None:
            return
        self._build_steps(topology, deps)
        self._sinks(topology)
        self._topics(topology)
        if not count_errors(self.result.diagnostics):  # warnings would only add noise to errors
            self._unused(topology)
        self.result.topology = topology

    def _sources(self, topology: Topology) -> None:
        for name, spec in _section(self.data, "sources").items():
            if not isinstance(spec, dict):
                continue
            kind = next((k for k in SOURCE_KINDS if k in spec), None)
            source = SourceSpec(name, kind or "?", _options(spec, kind), ("sources", name),
                                schema=spec.get("schema"))
            if source.schema:
                try:
                    source.fields = EventSchema(source.schema).fields
                except ConfigError as exc:
                    self.config_error(("sources", name), exc)
            if source.options.get("format", "json") != "json":
                source.fields = {"value": "str" if source.options["format"] == "string" else "any"}
            if source.fields is not None and source.options.get("metadata"):
                source.fields = {**source.fields, META_FIELD: "json"}
            topology.sources[name] = source

    def _references(self, topology: Topology) -> Optional[Dict[str, List[str]]]:
        names = list(topology.sources)
        ops = operator_names()
        seen: Dict[str, NodePath] = {n: ("sources", n) for n in names}
        duplicates = set()
        for index, step in enumerate(self.steps_raw):
            step_id = step.get("id")
            if not isinstance(step_id, str):
                continue
            if step_id in seen:
                line, _ = self.doc.locate(seen[step_id], at_key=seen[step_id][0] == "sources")
                self.report(("steps", index, "id"), f"duplicate id '{step_id}' (first defined at line {line})",
                            "give every source and step its own name")
                duplicates.add(index)
                continue
            seen[step_id] = ("steps", index, "id")
            names.append(step_id)
        outputs = self._routing_outputs()
        problems: List[graph.Problem] = []
        deps: Dict[str, List[str]] = {}
        specs: Dict[str, StepSpec] = {}
        for index, step in enumerate(self.steps_raw):
            step_id, op = step.get("id"), graph.operator_of(step, ops)
            if not isinstance(step_id, str) or index in duplicates:
                continue
            refs, node = graph.step_inputs(index, step, self.steps_raw, list(topology.sources), op, problems)
            listed = node[-1] in ("from", "union") and not isinstance(self._value(node), str)
            for position, ref in enumerate(refs):
                if not isinstance(ref, str):
                    continue
                if ref.partition(".")[0] == step_id:
                    problems.append(((*node, position) if listed else node, f"step '{step_id}' reads from itself",
                                     "a step can read only sources and other steps", False))
                    continue
                if node[-1] in ("from", "union"):
                    problem = graph.check_reference(ref, node, position if listed else -1, outputs, names)
                    if problem:
                        problems.append(problem)
            deps[step_id] = [base for base in (r.partition(".")[0] for r in refs if isinstance(r, str))
                             if base != step_id]  # a self-reference is reported above, not as a cycle
            config = self.literal_env(step.get(op), EXPRESSION_OPTIONS.get(op, []), ("steps", index, op))
            specs[step_id] = StepSpec(step_id, op or "?", config, refs, ("steps", index))
        for node, message, hint, at_key in problems:
            self.report(node, message, hint, at_key=at_key)
        step_deps = {k: [d for d in v if d in specs] for k, v in deps.items()}
        cycle = graph.find_cycle(step_deps)
        if cycle:
            first = specs[cycle[0]]
            self.report((*first.node, "id"), "cycle: " + " -> ".join(cycle),
                        "steps must form a DAG; one of these must read from something else")
        self._specs = specs
        self._outputs = outputs
        self._names = names
        return None if cycle else step_deps

    def _routing_outputs(self) -> Dict[str, List[str]]:
        outputs: Dict[str, List[str]] = {}
        for step in self.steps_raw:
            for op in graph.ROUTING_OPERATORS:
                config = step.get(op)
                if isinstance(config, dict) and isinstance(step.get("id"), str):
                    names = list(config.get("when") or {})
                    if isinstance(config.get("otherwise"), str):
                        names.append(config["otherwise"])
                    outputs[step["id"]] = names
        return outputs

    def _reads_broken(self, refs: List[str]) -> bool:
        """Whether a step or sink reads a step already in error: checks that need the fields
        of its input would only repeat that error in other words (one root cause, one error)."""
        return any(isinstance(r, str) and r.partition(".")[0] in self._broken for r in refs)

    def _fields_of(self, topology: Topology, refs: List[str]):
        all_fields = []
        for ref in refs:
            if not isinstance(ref, str):
                return None
            base = ref.partition(".")[0]
            if base in topology.sources:
                all_fields.append(topology.sources[base].fields)
            elif base in self._built:
                all_fields.append(self._built[base].fields)
            else:
                return None
        if not all_fields:
            return None
        return all_fields[0] if len(all_fields) == 1 else merge_fields(all_fields)

    def _build_steps(self, topology: Topology, deps: Dict[str, List[str]]) -> None:
        self._built: Dict[str, StepSpec] = {}
        self._broken: set = set()  # steps in error, and what reads them: fields unknown, not wrong
        for step_id in graph.build_order(deps):
            spec = self._specs[step_id]
            if self._reads_broken(spec.inputs):
                self._broken.add(step_id)
            if spec.op == "?" or spec.node[:2] in self.shape_broken or spec.config is None:
                self._broken.add(step_id)
                continue
            input_fields = self._fields_of(topology, spec.inputs)
            try:
                with collected_warnings() as warnings:
                    spec.operator = operator_class(spec.op)(step_id, spec.config, input_fields, None)
            except ConfigError as exc:
                self.config_error((*spec.node, spec.op), exc)
                self._broken.add(step_id)
                continue
            for warning in warnings:
                self.config_error((*spec.node, spec.op), warning, WARNING)
            spec.fields = spec.operator.output_fields
            self._built[step_id] = spec
            topology.steps.append(spec)

    def _sinks(self, topology: Topology) -> None:
        for name, spec in _section(self.data, "sinks").items():
            if not isinstance(spec, dict) or ("sinks", name) in self.shape_broken:
                continue
            refs = spec.get("from")
            refs = [refs] if isinstance(refs, str) else list(refs) if isinstance(refs, list) else []
            refs = [ref for ref in refs if isinstance(ref, str)]  # others: reported by the shape check
            listed = not isinstance(spec.get("from"), str)
            for position, ref in enumerate(refs):
                problem = graph.check_reference(ref, ("sinks", name, "from"), position if listed else -1,
                                                self._outputs, self._names)
                if problem:
                    self.report(problem[0], problem[1], problem[2])
            kind = next((k for k in SINK_KINDS if k in spec), "?")
            sink = SinkSpec(name, kind, _options(spec, kind), refs, ("sinks", name))
            if not (self._reads_broken(refs) and kind == "duckdb" and "columns" not in sink.options):
                self._connector_options(sink, self._fields_of(topology, refs), ", ".join(refs))
            topology.sinks[name] = sink
        topology.dead_letter = self._dead_letter(topology)

    def _connector_options(self, sink: SinkSpec, fields, feeder: str, columns=None) -> None:
        try:
            if sink.kind == "duckdb" and "tables" in sink.options:
                duckdb_tables(sink.options)
            elif sink.kind == "duckdb":
                sink.options["columns"] = columns or duckdb_columns(sink.options, fields, feeder)
            elif sink.kind == "kafka":
                self.literal_env(sink.options, KAFKA_SINK_EXPRESSIONS, (*sink.node, sink.kind))
                sink.envelope = kafka_envelope(sink.options, fields, sink.name)
        except ConfigError as exc:
            self.config_error((*sink.node, sink.kind), exc)

    def _dead_letter(self, topology: Topology) -> SinkSpec:
        spec = self.data.get("dead_letter")
        if not isinstance(spec, dict):
            return SinkSpec("dead_letter", "file", {"path": f"dead-letter/{topology.name}.jsonl", "mode": "append"},
                            [], ("dead_letter",))
        kind = next((k for k in SINK_KINDS if k in spec), "?")
        sink = SinkSpec("dead_letter", kind, _options(spec, kind), [], ("dead_letter",))
        if kind in ("duckdb", "kafka"):
            self._connector_options(sink, None, "dead_letter",
                                    columns=sink.options.get("columns") or DEAD_LETTER_COLUMNS)
        return sink

    def _topics(self, topology: Topology) -> None:
        used = _kafka_brokers_by_topic(topology)
        for name, spec in _section(self.data, "topics").items():
            if not isinstance(spec, dict) or ("topics", name) in self.shape_broken:
                continue
            brokers = spec.get("brokers") or used.get(name)
            if not brokers:
                self.report(("topics", name), f"no brokers known for topic '{name}'",
                            "add 'brokers:', or read or write the topic with a kafka source or sink", at_key=True)
                continue
            topology.topics[name] = TopicSpec(
                name, brokers if isinstance(brokers, str) else ",".join(brokers), spec.get("partitions", 1),
                spec.get("replication_factor", 1), {k: _config_text(v) for k, v in (spec.get("config") or {}).items()})

    def _unused(self, topology: Topology) -> None:
        read = {r.partition(".")[0] for s in topology.steps for r in s.inputs}
        read |= {r.partition(".")[0] for s in topology.sinks.values() for r in s.inputs}
        for spec in topology.steps:
            if spec.id not in read:
                self.report((*spec.node, "id"), f"step '{spec.id}' feeds nothing", "add a sink that reads it, or remove it",
                            severity=WARNING)
        for name in topology.sources:
            if name not in read:
                self.report(("sources", name), f"source '{name}' is never read", "read it from a step or sink, or remove it",
                            at_key=True, severity=WARNING)
