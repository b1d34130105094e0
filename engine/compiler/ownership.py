"""Which steps may change their input events in place.

A stateless operator may offer ``process_owned(batch)``: the same events and dead letters as
``process``, but it may change the top-level fields of its input events instead of copying them
(``cast``: the copy was a fifth of its time). The compiler calls it only where no one else can
see those events, i.e. when every stream the step reads

* has this step as its only reader (no other step, sink, side input or tap reads it), and
* carries events that no earlier step holds: a source's (its decode makes each one), those of
  an operator declaring ``fresh_output`` (each event it gives is a dict of its own: ``cast``,
  ``map``), or those an operator declaring ``passes_input`` passed on from an input that was
  itself owned (``filter``).

Nested objects are owned only in a source's events ("owned whole"): decode parses each value
afresh (engine/operators/decode.py), except two objects never to be changed: a Kafka Connect
envelope's ``schema``, which connect_json.py parses once and puts, the same object, into every
envelope of its table (and keeps, to compare), and a Kafka message's ``_meta``, which the raw
batch holds too (lineage decodes a dead letter's event again from it). An envelope's
``payload`` and everything in it is the message's own. A ``fresh_output`` step's events own
only their top level (``cast`` copies one level, ``map`` may put one value into many events);
a ``passes_input`` step's events are owned whole when all it read was. An operator whose
``process_owned`` also changes nested objects declares ``changes_nested = True``
(``debezium``: its rows) and gets it called only for events owned whole; one that can do
either offers ``process_owned_whole`` beside ``process_owned``, called for events owned whole
(``cast``: nested fields converted where they are, except in the ``records.SHARED`` fields).

Keyed steps, joins and routes give no owned events (their events may be held in state or sent to
several outputs). A keyed step may own its input, on the same terms as a stateless one: the
compiler then groups with its ``group_events_owned`` (``merge_transactions``: the changes it
buffers drop Debezium's ``source`` and ``transaction`` blocks); it may also be fed in a
compact form by a step that only it reads (``link_compact``: ``debezium`` gives
``merge_transactions`` tuples, engine/operators/compact_change.py): no tap, sink or other step
sees them. Lineage keeps no decoded events, only raw values and object identities
(engine/lineage.py), which a change in place leaves as
they were: a dead letter's event is decoded again from its raw value, and an operator's output
events are its own dicts. Lineage runs a step again on its input (its rule 4) only where the
input's rows are unknown, which an owned input's never are (a source's batch knows them, a
filter's are found by identity).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable

from engine.binding.model import StepSpec, Topology


class Ownership:
    """Filled step by step, in the order the compiler wires them."""

    def __init__(self, topology: Topology, taps: Iterable[str]) -> None:
        self._readers: Counter = Counter()
        for step in topology.steps:
            self._readers.update(step.definition.inputs)
        for sink in topology.sinks.values():
            self._readers.update(sink.inputs)
        self._readers.update(list(taps))  # (a mapping would be taken for counts)
        # owned streams -> whether their events are owned whole (nested objects too)
        self._owned: Dict[str, bool] = dict.fromkeys(topology.sources, True)
        self._steps: Dict[str, StepSpec] = {step.id: step for step in topology.steps}

    def readers(self, ref: str) -> int:
        """How many steps, sinks and taps read ``ref``."""
        return self._readers[ref]

    def owns_input(self, spec: StepSpec) -> bool:
        """Whether the step may be given its input through ``process_owned``."""
        refs = spec.definition.main_inputs
        whole = getattr(spec.operator, "changes_nested", False)
        return bool(refs) and all(ref in self._owned and self._readers[ref] == 1 and (self._owned[ref] or not whole)
                                  for ref in refs)

    def owns_whole(self, spec: StepSpec) -> bool:
        """Whether ``owns_input`` and the events it reads are owned whole (nested objects too)."""
        return self.owns_input(spec) and all(self._owned[ref] for ref in spec.definition.main_inputs)

    def wired(self, spec: StepSpec, owned_input: bool) -> None:
        """Note what the step gives, once it is wired."""
        operator = spec.operator
        if getattr(operator, "fresh_output", False):
            self._owned[spec.id] = False  # its top level only
        elif owned_input and getattr(operator, "passes_input", False):
            self._owned[spec.id] = all(self._owned[ref] for ref in spec.definition.main_inputs)

    def link_compact(self, spec: StepSpec) -> None:
        """For a keyed step that owns its input (``owns_input``) and takes compact changes
        (``compacts``): each step feeding it that only it reads, and that can give them, gives
        them (``compact_later``), keyed by the step's ``compact_keys``, made at its first batch
        (their code is ~12 ms of a start-up, which an empty run need not pay)."""
        merge: Any = spec.operator  # (a capability, not part of the Operator type)
        if not getattr(merge, "compacts", bool)():
            return
        for ref in spec.definition.main_inputs:
            feeder = self._steps.get(ref)
            if feeder is not None and self._readers[ref] == 1 and hasattr(feeder.operator, "compact_later"):
                feeder.operator.compact_later(merge.compact_keys)
