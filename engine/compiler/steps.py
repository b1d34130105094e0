"""Bytewax wiring for one step: a nested Bytewax operator named by the step id.

Inside it, ``process`` runs the operator over each batch, ``ok`` passes the good events on
and ``dead`` the dead letters, so Bytewax's own errors and metrics name the YAML step.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any, Callable, Optional

from bytewax.dataflow import Stream

from engine.connectors.lazy_operators import each, op, operator
from engine.metrics import StepCounters


@dataclass(frozen=True)  # a dataclass: Bytewax's @operator finds the Streams of its result by its fields
class StepOut:
    """A step's good events and its dead letters, both as streams of batches."""

    ok: Stream
    dead: Stream


def counted(process: Callable, counters: Optional[StepCounters], size: Callable = len) -> Callable:
    """``process`` that also counts events in, out and dead-lettered, and the time it took, once
    per batch."""
    if counters is None:
        return process

    def run(batch):
        started = perf_counter()
        oks, deads = process(batch)
        counters.add(size(batch), _size(oks), len(deads), perf_counter() - started)
        return oks, deads

    return run


def _size(oks: Any) -> int:
    return sum(len(v) for v in oks.values()) if isinstance(oks, dict) else len(oks)


def _firsts(results):
    return [r[0] for r in results if r[0]]


def _seconds(results):
    return [r[1] for r in results if r[1]]


@operator
def batch_step(step_id: str, up: Stream, process: Callable[[Any], Any]) -> StepOut:
    """Run ``process(batch) -> (events, dead_letters)`` over every batch; empty batches vanish.
    For a routing step the events are ``{output: events}`` dicts, split by ``route_output``."""
    results: Stream = each("process", up, process)
    return StepOut(op.flat_map_batch("ok", results, _firsts), op.flat_map_batch("dead", results, _seconds))


def route_output(step_id: str, routed: Stream, output: str) -> Stream:
    """The batches of one named output of a routing step."""

    def pick(results):
        return [r[output] for r in results if r.get(output)]

    return op.flat_map_batch(f"{step_id}:{output}", routed, pick)


def merged(step_id: str, streams: list) -> Stream:
    return streams[0] if len(streams) == 1 else op.merge(f"{step_id}:merge", *streams)
