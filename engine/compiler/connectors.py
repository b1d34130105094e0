"""Build connector instances from source and sink specs (YAML options map 1:1 to kwargs)."""

from __future__ import annotations

from typing import Optional

from engine.connectors.registry import SINKS, SOURCES
from engine.metrics import StepCounters
from engine.topology.model import SinkSpec, SourceSpec


DECODE_OPTIONS = ("format",)  # handled by the source's decode step, not by the connector


def build_source(spec: SourceSpec, counters: Optional[StepCounters]):
    options = {k: v for k, v in spec.options.items() if k not in DECODE_OPTIONS}
    return SOURCES[spec.kind](**options, metrics=counters)


def build_sink(spec: SinkSpec, counters: Optional[StepCounters]):
    return SINKS[spec.kind](**spec.options, metrics=counters)
