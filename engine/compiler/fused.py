"""A ``filter`` and the ``map`` it alone feeds, wired as one Bytewax step.

When a filter's only reader (no other step, sink or tap) is a map reading nothing else, the
compiler runs both in one step: a batch goes through one comprehension
(engine/operators/filter_map.py), with no list of the kept events in between and no Bytewax
step, boundary and counting of its own for the filter. Everything else is as with two steps:

* a batch the comprehension does not finish (an event failing the filter or the map, a
  missing field) is done by the filter's ``process`` in the filter's boundary, then the map's
  in the map's: each dead letter has its own step's id and reason, and a kept event that fails
  the map is that map's dead letter;
* each step's counters count what it would have (events in, out, dead-lettered, a batch when
  it got one: not the map when the filter kept nothing); the step's time is shared between
  the two in proportion to the events each took in;
* the events given on know their source rows, and dead letters are traced to the source
  event and position (engine/lineage.py), from the batch both steps read.
"""

from __future__ import annotations

from time import perf_counter
from typing import Callable

from engine import lineage
from engine.binding.model import StepSpec
from engine.metrics import StepCounters
from engine.operators.boundary import events, guard
from engine.operators.filter import Filter
from engine.operators.filter_map import fused
from engine.operators.map import Map


def fusable(first: StepSpec, then: StepSpec, readers: int) -> bool:
    """Whether ``then`` is a map whose one input is the filter ``first``, read by nothing else
    (``readers``: how many steps, sinks and taps read ``first``), and makes a dict literal."""
    keep, build = first.operator, then.operator
    return (type(keep) is Filter and type(build) is Map and readers == 1 and then.definition.inputs == (first.id,)
            and not then.definition.sides and build.literal is not None and build.schema is None)


def filter_then_map(keep: Filter, build: Map, counters: StepCounters, then_counters: StepCounters) -> Callable:
    """``batch -> (events, dead letters)`` of the map ``build`` over the events the filter
    ``keep`` keeps, counted for each (the steps of :func:`fusable`)."""
    fast = fused(keep, build, build.step_id)
    assert fast is not None, "fusable() said so"
    kept_by = guard(keep.step_id, keep.process, keep_lineage=False, trace=False)
    built_by = guard(build.step_id, build.process, keep_lineage=False, trace=False)

    def steps(batch: list):
        """The two steps, each in its boundary: (events, the filter's dead letters, the
        map's, how many the filter kept)."""
        kept, dead = kept_by(batch)
        if not kept:  # an empty batch never reaches the next step
            return [], dead, [], 0
        oks, more = built_by(kept)
        return oks, dead, more, len(kept)

    def one_by_one(batch: list):  # lineage's rule 4: the same work on one event
        oks, dead, more, _ = steps(batch)
        return oks, dead + more

    def run(batch: list):
        started = perf_counter()
        try:
            oks = fast(batch)
            dead = more = []
            kept = len(oks)
        except Exception:  # noqa: BLE001 - the steps themselves decide, each for its own events
            oks, dead, more, kept = steps(batch)
        deads = dead + more if more else dead
        oks = lineage.made(oks, batch, deads, one_by_one, events)
        if deads:
            lineage.trace_dead_letters(deads, batch)
        seconds = perf_counter() - started
        share = seconds * len(batch) / ((len(batch) + kept) or 1)
        counters.add(len(batch), kept, len(dead), share)
        if kept:
            then_counters.add(kept, len(oks), len(more), seconds - share)
        return oks, deads

    return run
