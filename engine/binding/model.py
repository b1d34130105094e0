"""The bound topology: each definition with what binding resolved for it (known fields, the
event schema, the built operator, a sink's complete options). The compiler and the CLI work
from this; the definitions inside stay as the file said.

Plain classes, not dataclasses: every command builds them, and creating four dataclasses cost
~3 ms of cpu at each start (nothing compares or prints them field by field)."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from engine.operators.contract import Operator, StatelessOperator
from engine.operators.fields import Fields
from engine.operators.jsonschemas import EventSchema
from engine.topology.definitions import SinkDef, SourceDef, StepDef, TopicDef, TopologyDef


class SourceSpec:
    def __init__(self, definition: SourceDef, fields: Fields = None,
                 event_schema: Optional[EventSchema] = None) -> None:
        self.definition = definition
        self.fields = fields  # known fields of its decoded events
        self.event_schema = event_schema  # loaded once, for validation and the decode step

    name = property(lambda self: self.definition.name)
    kind = property(lambda self: self.definition.kind)
    options = property(lambda self: self.definition.options)
    node = property(lambda self: self.definition.node)
    schema = property(lambda self: self.definition.schema)


class StepSpec:
    def __init__(self, definition: StepDef, operator: Operator, fields: Fields = None) -> None:
        self.definition = definition
        self.operator = operator
        self.fields = fields  # known fields of its output

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


class SinkSpec:
    def __init__(self, definition: SinkDef, options: Dict[str, Any],
                 envelope: Optional[StatelessOperator] = None) -> None:
        self.definition = definition
        self.options = options  # the connector's keyword arguments: declared defaults, inferred columns
        self.envelope = envelope  # a step run just before the sink (Kafka topic/key/headers)

    name = property(lambda self: self.definition.name)
    kind = property(lambda self: self.definition.kind)
    node = property(lambda self: self.definition.node)

    @property
    def inputs(self) -> List[str]:
        return list(self.definition.inputs)


class Topology:
    def __init__(self, definition: TopologyDef) -> None:
        self.definition = definition
        self.sources: Dict[str, SourceSpec] = {}
        self.steps: List[StepSpec] = []  # in an order where inputs come first
        self.sinks: Dict[str, SinkSpec] = {}
        self.dead_letter: Optional[SinkSpec] = None

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


