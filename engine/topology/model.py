"""The validated topology: plain dataclasses the compiler and the CLI work from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from engine.operators.fields import Fields
from engine.topology.loader import NodePath


@dataclass
class SourceSpec:
    name: str
    kind: str  # connector name: "file", later "kafka"
    options: Dict[str, Any]
    node: NodePath
    schema: Optional[str] = None
    fields: Fields = None


@dataclass
class StepSpec:
    id: str
    op: str  # operator name: "cast", "filter", ...
    config: Any
    inputs: List[str]
    node: NodePath
    operator: Any = None  # the built operator (engine.operators.*)
    fields: Fields = None  # known fields of its output

    @property
    def outputs(self) -> List[str]:
        """Named outputs (route/branch); a plain step has one, unnamed."""
        return list(getattr(self.operator, "outputs", []) or [])


@dataclass
class SinkSpec:
    name: str
    kind: str  # connector name: "file", "stdout", "duckdb"
    options: Dict[str, Any]
    inputs: List[str]
    node: NodePath
    envelope: Any = None  # an operator run just before the sink (Kafka topic/key/headers)


@dataclass
class TopicSpec:
    """A Kafka topic the topology declares, for ``velocity-flow deploy`` to provision."""

    name: str
    brokers: str
    partitions: int = 1
    replication_factor: int = 1
    config: Dict[str, str] = field(default_factory=dict)


@dataclass
class Topology:
    name: str
    path: str
    description: str = ""
    sources: Dict[str, SourceSpec] = field(default_factory=dict)
    steps: List[StepSpec] = field(default_factory=list)  # in an order where inputs come first
    sinks: Dict[str, SinkSpec] = field(default_factory=dict)
    dead_letter: Optional[SinkSpec] = None
    topics: Dict[str, TopicSpec] = field(default_factory=dict)
    secrets: Dict[str, str] = field(default_factory=dict)  # environment value -> "${NAME}"

    def redact(self, text: str) -> str:
        """``text`` with every value that came from the environment shown as ``${NAME}``."""
        from engine.topology.interpolate import redact

        return redact(text, self.secrets)

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)
