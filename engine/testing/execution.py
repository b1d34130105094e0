"""Run one test case through the real compiled dataflow, with in-memory sources and sinks.

The topology is compiled as ``run`` compiles it (``engine.compiler.compile_topology``); only
the connectors change (``CompileOptions.build``): each source becomes a ``MemorySource`` of the
case's raw lines, so decoding and its dead letters are the topology's own, and each sink a
``CaptureSink`` keeping what the real sink's encoder accepts. Taps keep what leaves each
source and step the case looks at. Inputs are bounded, so at their end every keyed step
flushes (``emit: final`` results, open windows, held micro-batches), as in a bounded run.
A ``lookup`` step reads the case's ``tables`` rows, when it gives them, instead of its
database (engine/testing/tables.py). Processing time is the case's clock (engine/clock.py):
it stands still at the case's ``clock`` (or the time it starts) and moves only at the
``advance`` steps of its inputs.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from engine import clock
from engine.binding.model import Topology
from engine.compiler import CompileOptions, compile_topology
from engine.compiler.connectors import declared
from engine.connectors.memory import CaptureSink, MemorySource, Timeline
from engine.metrics import MetricsRegistry
from engine.runtime.runner import RunFailed, RunOptions, run_dataflow
from engine.testing.matching import printable
from engine.testing.spec import Case
from engine.testing.tables import Swapped


@dataclass
class Outcome:
    """What one run of a case saw: events per place, dead-letter records, or the run's error."""

    seen: Dict[str, List[Any]] = field(default_factory=dict)
    dead: List[dict] = field(default_factory=list)
    error: Optional[str] = None
    seconds: float = 0.0


def run_case(topology: Topology, case: Case) -> Outcome:
    outcome = Outcome()
    places = {e.at for e in case.expect}
    kept: Dict[str, List[Any]] = {}
    start = case.clock or datetime.now(timezone.utc)
    timeline = Timeline([(start + offset, lines) for offset, lines in case.timeline])

    def build(role: str, spec, counters):
        if role == "source":
            return MemorySource(timeline, spec.name)
        real = declared(role, spec, counters)  # built, never opened: only its encoder is used
        if spec is topology.dead_letter:
            return CaptureSink(real.encoder(), outcome.dead)
        return CaptureSink(real.encoder(), kept.setdefault(spec.name, []))

    taps = {place: _keeping(outcome.seen.setdefault(place, [])) for place in places if not place.startswith("sink:")}
    started = time.perf_counter()
    tables = Swapped(topology, case.tables)
    try:
        flow = compile_topology(topology, MetricsRegistry(), CompileOptions(taps=taps, build=build))
        timeline.start()
        run_dataflow(flow, RunOptions())
    except RunFailed as exc:
        outcome.error = printable(topology.redact(exc.message), lines=True)  # it may quote an event
    except Exception as exc:  # noqa: BLE001 - a connector refusing its options: the case errs, the others run
        outcome.error = printable(topology.redact(f"{type(exc).__name__}: {exc}"), lines=True)
    finally:
        clock.set_time(None)
        tables.restore()
    outcome.seconds = time.perf_counter() - started
    for name, events in kept.items():
        outcome.seen[f"sink:{name}"] = events
    return outcome


def _keeping(into: List[Any]):
    def tap(batch: List[Any]) -> None:
        into.extend(copy.deepcopy(list(batch)))  # a later step may change an event in place

    return tap
