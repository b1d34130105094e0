"""Build connector instances from source and sink specs: the class comes from the catalog
(engine/catalog), and the YAML options map 1:1 to its keyword arguments."""

from __future__ import annotations

from typing import Any, Dict, Optional

from engine.catalog import component
from engine.metrics import StepCounters
from engine.binding.model import SinkSpec, SourceSpec


DECODE_OPTIONS = ("format",)  # handled by the source's decode step, not by the connector


def connector(role: str, kind: str, options: Dict[str, Any], counters: Optional[StepCounters]):
    """The ``role`` (source or sink) declared as ``kind``, built from ``options``."""
    return component(role, kind).load()(**options, metrics=counters)


def build_source(spec: SourceSpec, counters: Optional[StepCounters]):
    return connector("source", spec.kind, {k: v for k, v in spec.options.items() if k not in DECODE_OPTIONS}, counters)


def build_sink(spec: SinkSpec, counters: Optional[StepCounters]):
    return connector("sink", spec.kind, spec.options, counters)
