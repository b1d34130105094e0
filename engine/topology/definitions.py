"""A topology as the file defines it: plain, immutable definitions.

The reader (engine/topology/reading.py) makes them from a loaded document; binding
(engine/binding/) resolves fields, schemas and types and builds operators from them without
changing them; the compiler turns the bound topology into a Bytewax dataflow. Options and
configs are the file's values (with ``${VAR}`` resolved) and are never mutated after reading.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from engine.frozen import Frozen, set_fields
from engine.topology.interpolate import redact
from engine.topology.loader import NodePath

# Frozen records (engine/frozen.py), as the frozen dataclasses they were: every command makes
# them, and creating five dataclasses cost ~4 ms of cpu at each start.


class SourceDef(Frozen):
    __slots__ = ("name", "kind", "options", "node", "schema")
    name: str
    kind: str  # a source declared in engine/catalog: "file", "kafka"
    options: Mapping[str, Any]
    node: NodePath
    schema: Optional[str]  # an event schema file

    def __init__(self, name: str, kind: str, options: Mapping[str, Any], node: NodePath,
                 schema: Optional[str] = None) -> None:
        set_fields(self, name, kind, options, node, schema)


class StepDef(Frozen):
    __slots__ = ("id", "op", "config", "inputs", "node", "outputs", "sides")
    id: str
    op: str  # an operator declared in engine/catalog: "cast", "filter", ...
    config: Any
    inputs: Tuple[str, ...]
    node: NodePath
    outputs: Tuple[str, ...]  # named outputs of a route or branch step; a plain step has one, unnamed
    # inputs named by an option rather than by 'from' (a join's 'table'): (option, reference);
    # they are also the last entries of ``inputs``, so the graph sees every edge
    sides: Tuple[Tuple[str, str], ...]

    def __init__(self, id: str, op: str, config: Any, inputs: Tuple[str, ...], node: NodePath,  # noqa: A002
                 outputs: Tuple[str, ...] = (), sides: Tuple[Tuple[str, str], ...] = ()) -> None:
        set_fields(self, id, op, config, inputs, node, outputs, sides)

    @property
    def main_inputs(self) -> Tuple[str, ...]:
        """What ``from`` reads: the inputs that are not ``sides``."""
        return self.inputs[:len(self.inputs) - len(self.sides)]


class SinkDef(Frozen):
    __slots__ = ("name", "kind", "options", "inputs", "node")
    name: str
    kind: str  # a sink declared in engine/catalog: "file", "stdout", "duckdb", "kafka"
    options: Mapping[str, Any]
    inputs: Tuple[str, ...]
    node: NodePath

    def __init__(self, name: str, kind: str, options: Mapping[str, Any], inputs: Tuple[str, ...],
                 node: NodePath) -> None:
        set_fields(self, name, kind, options, inputs, node)


class TopicDef(Frozen):
    """A Kafka topic the topology declares, for ``velocity-flow deploy`` to provision."""

    __slots__ = ("name", "brokers", "partitions", "replication_factor", "config")
    name: str
    brokers: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]

    def __init__(self, name: str, brokers: str, partitions: int = 1, replication_factor: int = 1,
                 config: Optional[Mapping[str, str]] = None) -> None:
        set_fields(self, name, brokers, partitions, replication_factor, {} if config is None else config)


class TopologyDef(Frozen):
    __slots__ = ("name", "path", "description", "sources", "steps", "sinks", "dead_letter", "topics", "secrets")
    name: str
    path: str
    description: str
    sources: Mapping[str, SourceDef]
    steps: Tuple[StepDef, ...]  # in an order where inputs come first
    sinks: Mapping[str, SinkDef]
    dead_letter: Optional[SinkDef]
    topics: Mapping[str, TopicDef]
    secrets: Mapping[str, str]  # environment value -> "${NAME}"

    def __init__(self, name: str, path: str, description: str = "",
                 sources: Optional[Mapping[str, SourceDef]] = None, steps: Tuple[StepDef, ...] = (),
                 sinks: Optional[Mapping[str, SinkDef]] = None, dead_letter: Optional[SinkDef] = None,
                 topics: Optional[Mapping[str, TopicDef]] = None, secrets: Optional[Mapping[str, str]] = None) -> None:
        set_fields(self, name, path, description, {} if sources is None else sources, steps,
                   {} if sinks is None else sinks, dead_letter, {} if topics is None else topics,
                   {} if secrets is None else secrets)

    def redact(self, text: str) -> str:
        """``text`` with every value that came from the environment shown as ``${NAME}``."""
        return redact(text, self.secrets)

    def step(self, step_id: str) -> StepDef:
        return next(s for s in self.steps if s.id == step_id)


def dead_letter_default(topology_name: str) -> SinkDef:
    """Where dead letters go when the file does not say: ``dead-letter/<name>.jsonl``."""
    return SinkDef("dead_letter", "file", {"path": f"dead-letter/{topology_name}.jsonl", "mode": "append"}, (),
                   ("dead_letter",))


def brokers_text(brokers: Any) -> str:
    """``host:port,...``; a list of anything else is a shape error reported elsewhere."""
    if isinstance(brokers, str):
        return brokers
    return ",".join(str(b) for b in brokers) if isinstance(brokers, (list, tuple)) else str(brokers)


def topic_brokers(sources: Mapping[str, SourceDef], sinks: Mapping[str, SinkDef],
                  dead_letter: Optional[SinkDef]) -> Dict[str, str]:
    """Topic -> brokers, from the kafka sources and sinks that name the topic."""
    found: Dict[str, str] = {}
    connectors = [s.options for s in sources.values() if s.kind == "kafka"]
    connectors += [s.options for s in [*sinks.values(), dead_letter] if s and s.kind == "kafka"]
    for options in connectors:
        brokers = options.get("brokers")
        topics = options.get("topics")
        for topic in [options.get("topic"), *(topics if isinstance(topics, list) else [])]:
            if topic and isinstance(topic, str) and brokers:  # other shapes are reported by the shape check
                found.setdefault(topic, brokers_text(brokers))
    return found
