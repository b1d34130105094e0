"""Bind definitions: resolve each source's fields and event schema, build each step's operator
from the catalog with the fields it reads, and complete each sink's options (inferred DuckDB
columns, the Kafka envelope). Definitions are read, never changed; every problem is reported
at its place in the file.

One mistake, one error: a step in error, and whatever reads it, are *broken*; checks that need
a broken step's fields are skipped rather than reported again in other words.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

from engine.binding.model import SinkSpec, SourceSpec, StepSpec, Topology
from engine.binding.sink_checks import DEAD_LETTER_COLUMNS, TABLE_SINKS, duckdb_columns, duckdb_tables, kafka_envelope
from engine.catalog import component, components
from engine.errors import ConfigError
from engine.operators.expr import collected_warnings
from engine.operators.fields import Fields
from engine.operators.jsonschemas import EventSchema, ref_roots
from engine.operators.union import merge_fields
from engine.records import META_FIELD
from engine.topology.definitions import SinkDef, SourceDef, StepDef, TopologyDef
from engine.topology.diagnostics import WARNING
from engine.topology.reporter import Reporter


class Binder:
    def __init__(self, definition: TopologyDef, reporter: Reporter, shape_broken: set) -> None:
        self.definition, self.reporter, self.shape_broken = definition, reporter, shape_broken
        self.topology = Topology(definition)
        self.broken: set = set()  # steps in error, and what reads them: fields unknown, not wrong
        # what a reference may name; any other name is an unknown reference, reported by the reader
        self.names = set(definition.sources) | {step.id for step in definition.steps}
        self.built: Dict[str, StepSpec] = {}

    def bind(self) -> Topology:
        # an event schema's $refs may read files under the topology's directory (and next to the
        # schema, and the bundled schemas): docs/topology.md, Security model
        with ref_roots([os.path.dirname(os.path.abspath(self.definition.path))]):
            return self._bind()

    def _bind(self) -> Topology:
        for source in self.definition.sources.values():
            self.topology.sources[source.name] = self._source(source)
        for step in self.definition.steps:
            bound = self._step(step)
            if bound is not None:
                self.topology.steps.append(bound)
                self.built[step.id] = bound
        for sink in self.definition.sinks.values():
            if sink.node[:2] not in self.shape_broken:
                self.topology.sinks[sink.name] = self._sink(sink)
        self.topology.dead_letter = self._dead_letter(self.definition.dead_letter)
        return self.topology

    def _source(self, source: SourceDef) -> SourceSpec:
        bound = SourceSpec(source)
        if source.schema and isinstance(source.schema, str):  # anything else: a shape error, reported
            try:
                bound.event_schema = EventSchema(source.schema)
                bound.fields = bound.event_schema.fields
            except ConfigError as exc:
                self.reporter.config_error(source.node, exc)
        data_format = source.options.get("format", "json")
        if data_format != "json":
            bound.fields = {"value": "str" if data_format == "string" else "any"}
        if bound.fields is not None and source.options.get("metadata"):
            bound.fields = {**bound.fields, META_FIELD: "json"}
        return bound

    def _step(self, step: StepDef) -> Optional[StepSpec]:
        if self._reads_broken(step.inputs):
            self.broken.add(step.id)
        if step.op == "?" or step.node[:2] in self.shape_broken or step.config is None:
            self.broken.add(step.id)
            return None
        where = (*step.node, step.op)
        try:
            with collected_warnings() as warnings:
                build = component("operator", step.op).load()
                fields = self._fields_of(step.main_inputs)
                sides = {option: self._fields_of([ref]) for option, ref in step.sides}
                operator = build(step.id, step.config, fields, sides) if sides else build(step.id, step.config, fields)
        except ConfigError as exc:
            self.reporter.config_error(where, exc)
            self.broken.add(step.id)
            return None
        for warning in warnings:
            self.reporter.config_error(where, warning, WARNING)
        return StepSpec(step, operator, operator.output_fields)

    def _sink(self, sink: SinkDef) -> SinkSpec:
        self._declared_checks(sink)
        columns_needed = sink.kind in TABLE_SINKS and "tables" not in sink.options and "columns" not in sink.options
        if self._reads_broken(sink.inputs) and columns_needed:
            return SinkSpec(sink, dict(sink.options))  # the feeder's own error says it all
        return self._connector(sink, self._fields_of(sink.inputs), ", ".join(sink.inputs))

    def _dead_letter(self, sink: Optional[SinkDef]) -> SinkSpec:
        assert sink is not None  # the reader always defines one
        self._declared_checks(sink)
        if sink.kind in (*TABLE_SINKS, "kafka"):
            columns = sink.options.get("columns") or DEAD_LETTER_COLUMNS
            return self._connector(sink, None, "dead_letter", columns=columns)
        return SinkSpec(sink, dict(sink.options))

    def _connector(self, sink: SinkDef, fields: Fields, feeder: str, columns=None) -> SinkSpec:
        bound = SinkSpec(sink, dict(sink.options))
        try:
            if sink.kind in TABLE_SINKS and "tables" in sink.options:
                duckdb_tables(sink.options)
            elif sink.kind in TABLE_SINKS:  # (columns given: the dead letters'; their key is checked too)
                bound.options["columns"] = duckdb_columns({**sink.options, "columns": columns} if columns
                                                          else sink.options, fields, feeder)
            elif sink.kind == "kafka":
                bound.envelope, bound.options = kafka_envelope(sink.options, fields, sink.name)
        except ConfigError as exc:
            self.reporter.config_error((*sink.node, sink.kind), exc)
        return bound

    def _declared_checks(self, sink: SinkDef) -> None:
        if sink.kind in components("sink"):
            try:
                component("sink", sink.kind).check_options(sink.options)
            except ConfigError as exc:
                self.reporter.config_error((*sink.node, sink.kind), exc)

    def _reads_broken(self, refs: Sequence[str]) -> bool:
        """Whether a step or sink reads a step already in error, or a name that is no source or
        step (an unknown reference): checks that need the fields of its input would only repeat
        that error in other words."""
        bases = [r.partition(".")[0] for r in refs]
        return any(base in self.broken or base not in self.names for base in bases)

    def _fields_of(self, refs: Sequence[str]) -> Fields:
        found: List[Fields] = []
        for ref in refs:
            base = ref.partition(".")[0]
            if base in self.topology.sources:
                found.append(self.topology.sources[base].fields)
            elif base in self.built:
                found.append(self.built[base].fields)
            else:
                return None
        if not found:
            return None
        return found[0] if len(found) == 1 else merge_fields(found)
