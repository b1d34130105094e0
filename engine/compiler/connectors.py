"""Build connector instances from source and sink specs: the class comes from the catalog
(engine/catalog), and the YAML options map 1:1 to its keyword arguments."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Union

from engine.binding.model import SinkSpec, SourceSpec
from engine.catalog import component
from engine.metrics import Gauges, StepCounters
from engine.thread_state import keep_thread_state

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


def watch_epochs(source: Any, gauges: Gauges) -> None:
    """A stateful source's partitions note each snapshot in ``gauges``: the end of an epoch
    (Bytewax asks every stateful partition for its state then, with a recovery store or not),
    as ``last_snapshot_per_partition`` and the epoch's length as ``epoch_seconds_per_partition``
    (the HTTP metrics). One clock read per partition and epoch."""
    build = getattr(source, "build_part", None)
    if build is None:  # a dynamic source: no state, no snapshot
        return

    def build_part(step_id: str, for_part: str, resume_state):
        part = build(step_id, for_part, resume_state)
        snapshot = getattr(part, "snapshot", None)
        if snapshot is not None:
            part.snapshot = _noting(snapshot, for_part, gauges)
        return part

    source.build_part = build_part


def keep_thread_states(source: Any) -> None:
    """Bytewax builds a source's partitions (a dynamic source's ``build``) on the worker threads
    that then poll them: each keeps its Python thread state from there on (engine/thread_state.py),
    before its first poll and its first step."""
    name = "build_part" if hasattr(source, "build_part") else "build"
    build = getattr(source, name)

    def built(*args):
        keep_thread_state()
        return build(*args)

    setattr(source, name, built)


def _noting(snapshot: Callable[[], Any], part: str, gauges: Gauges) -> Callable[[], Any]:
    last: List[float] = []

    def noted():
        state = snapshot()
        now = time.time()
        gauges.put("last_snapshot_per_partition", part, datetime.fromtimestamp(now, timezone.utc).isoformat())
        if last:
            gauges.put("epoch_seconds_per_partition", part, round(now - last[0], 3))
            last[0] = now
        else:
            last.append(now)
        return state

    return noted


def declared(role: str, spec: Union[SourceSpec, SinkSpec], counters: Optional[StepCounters]):
    """The connector a source or sink spec declares (the default ``Build``)."""
    options = dict(spec.options)
    if role == "source":
        options = {k: v for k, v in options.items() if k not in DECODE_OPTIONS}
    return connector(role, spec.kind, options, counters)
