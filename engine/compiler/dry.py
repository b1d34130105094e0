"""A dry run's connectors: the declared sources, every sink (the dead-letter one too) replaced
by a discarding one that still encodes as the real sink does, and no consumer-group commits.

Watching a step must not write anywhere or move anything another run relies on: a Kafka
source's ``group_id`` is left out (its offsets are committed to the group), so a
``start: committed`` source begins at the earliest offset instead.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from engine.binding.model import SinkSpec, SourceSpec
from engine.compiler.connectors import DECODE_OPTIONS, Build, connector, declared
from engine.connectors.discard import DiscardSink
from engine.metrics import StepCounters


def dry_build(real: Callable[[SinkSpec], bool] = lambda spec: False, inner: Build = declared) -> Build:
    """A ``Build`` for ``CompileOptions``: the sinks ``real`` picks come from ``inner``, the
    others discard."""

    def build(role: str, spec: Union[SourceSpec, SinkSpec], counters: Optional[StepCounters]) -> Any:
        if role == "source":
            if spec.kind == "kafka" and spec.options.get("group_id"):
                return connector(role, spec.kind, _without_group(spec.options), counters)
            return inner(role, spec, counters)
        if real(spec):  # type: ignore[arg-type]
            return inner(role, spec, counters)
        return DiscardSink(declared(role, spec, None).encoder(), counters)

    return build


def _without_group(options) -> dict:
    kept = {k: v for k, v in options.items() if k != "group_id" and k not in DECODE_OPTIONS}
    if kept.get("start") == "committed":
        kept["start"] = "earliest"
    return kept
