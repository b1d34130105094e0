"""A source's decode and the ``debezium`` step that alone reads it, wired as one Bytewax step.

When a ``debezium`` step (an operator with ``owned_decode``; no ``fields`` casts) owns its input
(engine/compiler/ownership.py: it alone reads each of its inputs, no tap either) and every input
is a JSON source without an event schema, each of those sources gets one step that does both:
the usual batch of envelopes is parsed and converted message by message
(engine/operators/source_changes.py: the objects of a message are used and freed while in
cache), with no list of decoded events in between and no Bytewax step of its own for the
``debezium`` step; its stream is the merge of the sources' steps. Everything else
is as with two steps:

* any other batch, or a usual one with one message that is not the usual one, runs the decode
  and then the ``debezium`` step over it, each in its boundary, as they are wired apart: the
  same events, and each dead letter with its own step's id and reason;
* each step's counters count what it would have (the source's raw values and events, the
  step's events in and out and dead letters, a batch when it got one); the time is shared
  between the two in proportion to the items each took in;
* the changes know their source rows as the decode step's events do (engine/lineage.py).
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Callable, Dict

from engine import lineage
from engine.binding.model import SourceSpec, StepSpec, Topology
from engine.compiler.ownership import Ownership
from engine.metrics import StepCounters
from engine.operators.boundary import guard, raw_values
from engine.operators.decode import Decode
from engine.operators.source_changes import changes_of

if TYPE_CHECKING:  # (a topology without a debezium step does not import it)
    from engine.operators.debezium import Debezium


def fused_sources(topology: Topology, ownership: Ownership) -> Dict[str, StepSpec]:
    """source name -> the ``debezium`` step to wire with it (see the module docstring)."""
    out: Dict[str, StepSpec] = {}
    for spec in topology.steps:
        refs = spec.definition.main_inputs
        if hasattr(spec.operator, "owned_decode") and not getattr(spec.operator, "casts", ()) and refs \
                and not spec.definition.sides and ownership.owns_input(spec) \
                and all(ref in topology.sources and _plain_json(topology.sources[ref]) for ref in refs):
            out.update(dict.fromkeys(refs, spec))
    return out


def _plain_json(source: SourceSpec) -> bool:
    return source.event_schema is None and source.options.get("format", "json") == "json"


def decode_then_changes(step_id: str, decode: Decode, changes: "Debezium", source_counters: StepCounters,
                        counters: StepCounters) -> Callable:
    """``raw batch -> (changes, dead letters)`` of the source's decode (Bytewax step ``step_id``)
    and then ``changes``, counted for each."""
    decoded_by = guard(step_id, decode.process, raw_values)  # as the compiler wires each apart
    converted_by = guard(changes.step_id, changes.process_owned)

    def steps(raw):
        events, dead = decoded_by(raw)
        if not events:  # an empty batch never reaches the next step
            return [], dead, [], 0
        oks, more = converted_by(events)
        return oks, dead, more, len(events)

    def fast(raw):
        found = decode.usual_payloads(raw)
        if found is None:
            return None
        convert = changes.owned_decode()
        try:
            made = changes_of(found[0], found[1], convert)
        except Exception:  # noqa: BLE001 - the two steps decide, each for its own items
            return None
        return None if made is None else lineage.decoded(made, raw, range(len(made)), decode.event_of)

    def run(raw):
        started = perf_counter()
        oks = fast(raw)
        if oks is not None:
            dead = more = []
            kept = len(oks)
        else:
            oks, dead, more, kept = steps(raw)
        seconds = perf_counter() - started
        size = len(raw.values)
        share = seconds * size / ((size + kept) or 1)
        source_counters.add(size, kept, len(dead), share)
        if kept:
            counters.add(kept, len(oks), len(more), seconds - share)
        return oks, dead + more if more else dead

    return run
