"""Build connector instances from source and sink specs: the class comes from the catalog
(engine/catalog), and the YAML options map 1:1 to its keyword arguments."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

from engine.binding.model import SinkSpec, SourceSpec
from engine.catalog import component
from engine.metrics import Gauges, StepCounters

DECODE_OPTIONS = ("format",)  # handled by the source's decode step, not by the connector
Build = Callable[[str, Union[SourceSpec, SinkSpec], Optional[StepCounters]], Any]


def connector(role: str, kind: str, options: Dict[str, Any], counters: Optional[StepCounters]):
    """The ``role`` (source or sink) declared as ``kind``, built from ``options``."""
    return component(role, kind).load()(**options, metrics=counters)


def attach_gauges(connector: Any, gauges: Gauges) -> None:
    """A connector that reports its health (``attach_gauges``) gets its gauges."""
    attach = getattr(connector, "attach_gauges", None)
    if attach is not None:
        attach(gauges)


def declared(role: str, spec: Union[SourceSpec, SinkSpec], counters: Optional[StepCounters]):
    """The connector a source or sink spec declares (the default ``Build``)."""
    options = dict(spec.options)
    if role == "source":
        options = {k: v for k, v in options.items() if k not in DECODE_OPTIONS}
    return connector(role, spec.kind, options, counters)
