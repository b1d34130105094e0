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

Keyed steps, joins and routes give no owned events (their events may be held in state or
sent to several outputs). Lineage keeps no decoded events, only raw values and object
identities (engine/lineage.py), which a change in place leaves as they were.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Set

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
        self._owned: Set[str] = set(topology.sources)

    def readers(self, ref: str) -> int:
        """How many steps, sinks and taps read ``ref``."""
        return self._readers[ref]

    def owns_input(self, spec: StepSpec) -> bool:
        refs = spec.definition.main_inputs
        return bool(refs) and all(ref in self._owned and self._readers[ref] == 1 for ref in refs)

    def wired(self, spec: StepSpec, owned_input: bool) -> None:
        """Note what the step gives, once it is wired."""
        operator = spec.operator
        if getattr(operator, "fresh_output", False) or (owned_input and getattr(operator, "passes_input", False)):
            self._owned.add(spec.id)
