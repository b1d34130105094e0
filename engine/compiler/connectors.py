"""Build connector instances from source and sink specs (YAML options map 1:1 to kwargs)."""

from __future__ import annotations

from typing import Optional

from engine.connectors.registry import SINKS, SOURCES
from engine.metrics import StepCounters
from engine.topology.model import SinkSpec, SourceSpec


def build_source(spec: SourceSpec, counters: Optional[StepCounters]):
    return SOURCES[spec.kind](**spec.options, metrics=counters)


def build_sink(spec: SinkSpec, counters: Optional[StepCounters]):
    return SINKS[spec.kind](**spec.options, metrics=counters)
