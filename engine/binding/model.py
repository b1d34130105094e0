"""The bound topology: each definition with what binding resolved for it (known fields, the
event schema, the built operator, a sink's complete options). The compiler and the CLI work
from this; the definitions inside stay as the file said."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from engine.operators.contract import Operator, StatelessOperator
from engine.operators.fields import Fields
from engine.operators.jsonschemas import EventSchema
from engine.topology.definitions import SinkDef, SourceDef, StepDef, TopicDef, TopologyDef


@dataclass
class SourceSpec:
    definition: SourceDef
    fields: Fields = None  # known fields of its decoded events
    event_schema: Optional[EventSchema] = None  # loaded once, for validation and the decode step

    name = property(lambda self: self.definition.name)
    kind = property(lambda self: self.definition.kind)
    options = property(lambda self: self.definition.options)
    node = property(lambda self: self.definition.node)
    schema = property(lambda self: self.definition.schema)


@dataclass
class StepSpec:
    definition: StepDef
    operator: Operator
    fields: Fields = None  # known fields of its output

    id = property(lambda self: self.definition.id)
    op = property(lambda self: self.definition.op)
    config = property(lambda self: self.definition.config)
    node = property(lambda self: self.definition.node)

    @property
    def inputs(self) -> List[str]:
        return list(self.definition.inputs)

    @property
    def outputs(self) -> List[str]:
        """Named outputs (route/branch); a plain step has one, unnamed."""
        return list(self.definition.outputs)


@dataclass
class SinkSpec:
    definition: SinkDef
    options: Dict[str, Any]  # the connector's keyword arguments: declared defaults, inferred columns
    envelope: Optional[StatelessOperator] = None  # a step run just before the sink (Kafka topic/key/headers)

    name = property(lambda self: self.definition.name)
    kind = property(lambda self: self.definition.kind)
    node = property(lambda self: self.definition.node)

    @property
    def inputs(self) -> List[str]:
        return list(self.definition.inputs)


@dataclass
class Topology:
    definition: TopologyDef
    sources: Dict[str, SourceSpec] = field(default_factory=dict)
    steps: List[StepSpec] = field(default_factory=list)  # in an order where inputs come first
    sinks: Dict[str, SinkSpec] = field(default_factory=dict)
    dead_letter: Optional[SinkSpec] = None

    name = property(lambda self: self.definition.name)
    path = property(lambda self: self.definition.path)
    description = property(lambda self: self.definition.description)

    @property
    def topics(self) -> Mapping[str, TopicDef]:
        return self.definition.topics

    @property
    def secrets(self) -> Mapping[str, str]:
        return self.definition.secrets

    def redact(self, text: str) -> str:
        """``text`` with every value that came from the environment shown as ``${NAME}``."""
        return self.definition.redact(text)

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)


