"""Read a loaded document into definitions (engine/topology/definitions.py), reporting every
problem that needs no operator: the shape (JSON Schema), ids, references, cycles, topics.

``${VAR}`` in an expression option is rebuilt as a literal here (the options that hold
expressions are found from the catalog's declarations), so no later stage ever sees an
environment value as expression syntax.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from engine.catalog import components
from engine.topology import graph
from engine.topology.definitions import (
    SinkDef,
    SourceDef,
    StepDef,
    TopicDef,
    TopologyDef,
    brokers_text,
    dead_letter_default,
    topic_brokers,
)
from engine.topology.diagnostics import WARNING
from engine.topology.interpolate import EnvText, as_expression
from engine.topology.loader import NodePath
from engine.topology.reporter import Reporter
from engine.topology.schema import check_shape


def _section(data: dict, key: str) -> dict:
    """A top-level mapping (sources, sinks, topics); anything else is reported by the shape check."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _kind(spec: dict, role: str) -> Optional[str]:
    return next((k for k in components(role) if k in spec), None)


def _options(spec: dict, kind: Optional[str]) -> dict:
    """A connector's options; a connector written as a list or scalar is a shape error."""
    value = spec.get(kind) if kind else None
    return dict(value) if isinstance(value, dict) else {}


def _config_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class Reader:
    """One document's definitions; ``read()`` returns None when the steps cannot form a graph."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter, self.doc, self.data = reporter, reporter.doc, reporter.doc.data
        steps = self.data.get("steps")
        # every item, at its index in the file (a step that is no mapping is a shape error, skipped
        # where read): positions and shape errors are keyed by that index
        self.steps_raw: List[Any] = list(steps) if isinstance(steps, list) else []
        self.shape_broken: set = set()  # (section, name or index) whose shape is wrong: not read further
        self.lost: set = set()  # names of steps whose 'id' key is misspelt (reported there, not where read)
        self.shape_problems: set = set()  # the nodes the shape check reported: a reference there is not looked up

    def read(self) -> Optional[TopologyDef]:
        for problem in check_shape(self.data):
            self.reporter.report(problem.path, problem.message, problem.hint, at_key=problem.at_key)
            self.shape_broken.add(problem.path[:2])
            self.shape_problems.add(problem.path)
        if self.reporter.errors and not isinstance(self.data.get("steps", []), list):
            return None
        name = str(self.data.get("name", "topology"))
        sources = self._sources()
        steps = self._steps(list(sources))
        if steps is None:
            return None
        sinks = self._sinks()
        dead_letter = self._dead_letter(name)
        return TopologyDef(name, self.doc.path, str(self.data.get("description", "")), sources, steps, sinks,
                           dead_letter, self._topics(sources, sinks, dead_letter), dict(self.doc.secrets))

    # sources ---------------------------------------------------------------------------------
    def _sources(self) -> Dict[str, SourceDef]:
        found = {}
        for name, spec in _section(self.data, "sources").items():
            if isinstance(spec, dict):
                kind = _kind(spec, "source")
                found[name] = SourceDef(name, kind or "?", _options(spec, kind), ("sources", name), spec.get("schema"))
        return found

    # steps -----------------------------------------------------------------------------------
    def _steps(self, sources: List[str]) -> Optional[Tuple[StepDef, ...]]:
        names = list(sources)
        ops = list(components("operator"))
        seen: Dict[str, NodePath] = {n: ("sources", n) for n in names}
        duplicates = set()
        for index, step in enumerate(self.steps_raw):
            if not isinstance(step, dict):
                continue
            step_id = step.get("id")
            if not isinstance(step_id, str):
                self.lost.update(v for k, v in step.items() if isinstance(v, str) and graph.misspelt_id(k, ops))
                continue
            if step_id in seen:
                line, _ = self.doc.locate(seen[step_id], at_key=seen[step_id][0] == "sources")
                self.reporter.report(("steps", index, "id"), f"duplicate id '{step_id}' (first defined at line {line})",
                                     "give every source and step its own name")
                duplicates.add(index)
                continue
            seen[step_id] = ("steps", index, "id")
            names.append(step_id)
        self.outputs = self._routing_outputs()
        self.names = names
        problems: List[graph.Problem] = []
        deps: Dict[str, List[str]] = {}
        steps: Dict[str, StepDef] = {}
        for index, step in enumerate(self.steps_raw):
            if not isinstance(step, dict):
                continue
            step_id, op = step.get("id"), graph.operator_of(step, ops)
            if not isinstance(step_id, str) or index in duplicates:
                continue
            refs, node = graph.step_inputs(index, step, self.steps_raw, sources, op, problems)
            self._check_inputs(step_id, refs, node, problems)
            sides = self._side_inputs(step_id, step.get(op), op, ("steps", index, op), problems)
            refs = [*refs, *(ref for _, ref in sides)]
            deps[step_id] = [base for base in (r.partition(".")[0] for r in refs if isinstance(r, str))
                             if base != step_id]  # a self-reference is reported above, not as a cycle
            config = self._literal_env(step.get(op), op, ("steps", index, op)) if op else None
            refs = [r for r in refs if isinstance(r, str)]  # others: reported by the shape check
            steps[step_id] = StepDef(step_id, op or "?", config, tuple(refs), ("steps", index),
                                     tuple(self.outputs.get(step_id, ())), tuple(sides))
        for node, message, hint, at_key in problems:
            self.reporter.report(node, message, hint, at_key=at_key)
        step_deps = {k: [d for d in v if d in steps] for k, v in deps.items()}
        cycle = graph.find_cycle(step_deps)
        if cycle:
            self.reporter.report((*steps[cycle[0]].node, "id"), "cycle: " + " -> ".join(cycle),
                                 "steps must form a DAG; one of these must read from something else")
            return None
        return tuple(steps[step_id] for step_id in graph.build_order(step_deps))

    def _check_inputs(self, step_id: str, refs: Sequence[Any], node: NodePath, problems: List[graph.Problem]) -> None:
        listed = node[-1] in ("from", "union") and not isinstance(self.reporter.value(node), str)
        for position, ref in enumerate(refs):
            if not isinstance(ref, str):
                continue
            if ref.partition(".")[0] == step_id:
                problems.append(((*node, position) if listed else node, f"step '{step_id}' reads from itself",
                                 "a step can read only sources and other steps", False))
            elif node[-1] in ("from", "union") and ((*node, position) if listed else node) not in self.shape_problems:
                problem = graph.check_reference(ref, node, position if listed else -1, self.outputs, self.names,
                                                self.lost)
                if problem:
                    problems.append(problem)

    def _side_inputs(self, step_id: str, config: Any, op: Optional[str], node: Any,
                     problems: List[graph.Problem]) -> List[Tuple[str, str]]:
        """References an operator reads through an option declared as a reference (a join's
        ``table``), checked like ``from``: ``(option, reference)``."""
        if op is None or not isinstance(config, dict):
            return []
        found = []
        for option in components("operator")[op].options:
            ref = config.get(option.key)
            if option.schema.get("$ref") != "#/$defs/ref" or not isinstance(ref, str):
                continue
            if ref.partition(".")[0] == step_id:
                problems.append(((*node, option.key), f"step '{step_id}' reads from itself",
                                 "a step can read only sources and other steps", False))
                continue
            problem = graph.check_reference(ref, (*node, option.key), -1, self.outputs, self.names, self.lost)
            if problem:
                problems.append(problem)
                continue
            found.append((option.key, ref))
        return found

    def _routing_outputs(self) -> Dict[str, List[str]]:
        outputs: Dict[str, List[str]] = {}
        for step in self.steps_raw:
            for op in graph.ROUTING_OPERATORS if isinstance(step, dict) else ():
                config = step.get(op)
                if isinstance(config, dict) and isinstance(step.get("id"), str):
                    when = config.get("when")  # not a mapping: a shape error, no outputs
                    names = [name for name in when if isinstance(name, str)] if isinstance(when, dict) else []
                    if isinstance(config.get("otherwise"), str):
                        names.append(config["otherwise"])
                    outputs[step["id"]] = names
        return outputs

    def _literal_env(self, config: Any, op: str, node: NodePath, role: str = "operator") -> Any:
        """``config`` with each interpolated expression option rebuilt so ${VAR} values are
        literals; a copy where anything changes, never the document's own values."""
        for path in components(role)[op].expression_paths() if op in components(role) else ():
            config = self._literal_at(config, path, node)
        return config

    def _literal_at(self, value: Any, path: Tuple[str, ...], node: NodePath) -> Any:
        if not path:
            return self._as_expression(value, node)
        if not isinstance(value, dict):
            return value
        keys = list(value) if path[0] == "*" else [path[0]] if path[0] in value else []
        changed = {key: self._literal_at(value[key], path[1:], (*node, key)) for key in keys}
        if all(changed[key] is value[key] for key in keys):
            return value
        return {**value, **changed}

    def _as_expression(self, value: Any, node: NodePath) -> Any:
        if not isinstance(value, EnvText):
            return value
        try:
            return as_expression(value)
        except ValueError as exc:
            self.reporter.report(node, str(exc), "use the variable as a value, or write the field name in the file")
            return value

    # sinks, dead letters, topics -------------------------------------------------------------
    def _sinks(self) -> Dict[str, SinkDef]:
        found = {}
        for name, spec in _section(self.data, "sinks").items():
            if not isinstance(spec, dict) or ("sinks", name) in self.shape_broken:
                continue
            refs = spec.get("from")
            refs = [refs] if isinstance(refs, str) else list(refs) if isinstance(refs, list) else []
            refs = [ref for ref in refs if isinstance(ref, str)]  # others: reported by the shape check
            listed = not isinstance(spec.get("from"), str)
            for position, ref in enumerate(refs):
                problem = graph.check_reference(ref, ("sinks", name, "from"), position if listed else -1,
                                                self.outputs, self.names, self.lost)
                if problem and problem[0] not in self.shape_problems:  # an invalid reference: said once
                    self.reporter.report(problem[0], problem[1], problem[2])
            found[name] = self._sink(name, spec, tuple(refs), ("sinks", name))
        return found

    def _sink(self, name: str, spec: dict, refs: Tuple[str, ...], node: NodePath) -> SinkDef:
        kind = _kind(spec, "sink") or "?"
        options = self._literal_env(_options(spec, kind), kind, (*node, kind), role="sink")
        return SinkDef(name, kind, options, refs, node)

    def _dead_letter(self, topology_name: str) -> SinkDef:
        spec = self.data.get("dead_letter")
        if not isinstance(spec, dict):
            return dead_letter_default(topology_name)
        return self._sink("dead_letter", spec, (), ("dead_letter",))

    def _topics(self, sources, sinks, dead_letter) -> Dict[str, TopicDef]:
        used = topic_brokers(sources, sinks, dead_letter)
        found = {}
        for name, spec in _section(self.data, "topics").items():
            if not isinstance(spec, dict) or ("topics", name) in self.shape_broken:
                continue
            brokers = spec.get("brokers") or used.get(name)
            if not brokers:
                self.reporter.report(("topics", name), f"no brokers known for topic '{name}'",
                                     "add 'brokers:', or read or write the topic with a kafka source or sink",
                                     at_key=True)
                continue
            found[name] = TopicDef(name, brokers_text(brokers), spec.get("partitions", 1),
                                   spec.get("replication_factor", 1),
                                   {k: _config_text(v) for k, v in (spec.get("config") or {}).items()})
        return found


def unused(topology: TopologyDef, reporter: Reporter, steps: Sequence[StepDef]) -> None:
    """Warnings: steps that feed nothing, sources never read."""
    read = {r.partition(".")[0] for s in steps for r in s.inputs}
    read |= {r.partition(".")[0] for s in topology.sinks.values() for r in s.inputs}
    for spec in steps:
        if spec.id not in read:
            reporter.report((*spec.node, "id"), f"step '{spec.id}' feeds nothing",
                            "add a sink that reads it, or remove it", severity=WARNING)
    for name in topology.sources:
        if name not in read:
            reporter.report(("sources", name), f"source '{name}' is never read",
                            "read it from a step or sink, or remove it", at_key=True, severity=WARNING)
