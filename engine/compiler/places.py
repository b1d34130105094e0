"""The places of a compiled flow that a tap can see (``CompileOptions.taps``) and what lies
after a place: the names ``velocity-flow tap`` and ``replay --step`` accept."""

from __future__ import annotations

from typing import Dict, List, Set

from engine.binding.model import Topology

DEAD_LETTER_PLACE = "dead_letter"


def places(topology: Topology) -> List[str]:
    """Sources, steps (a routing step by each ``step.output``), ``sink:<name>``, ``dead_letter``."""
    found: List[str] = list(topology.sources)
    for spec in topology.steps:
        if spec.operator.kind == "route":
            found.extend(f"{spec.id}.{output}" for output in spec.outputs)
        else:
            found.append(spec.id)
    found.extend(f"sink:{name}" for name in topology.sinks)
    found.append(DEAD_LETTER_PLACE)
    return found


def sinks_after(topology: Topology, step: str) -> Set[str]:
    """The sinks an event failing at ``step`` (a dead letter's ``step``) had not reached yet:
    those downstream of it (a source's: all it feeds); ``sink:<name>[:...]`` that sink;
    a step the topology does not have (renamed since): every sink."""
    if step.startswith("sink:"):
        name = step.split(":")[1]
        return {name} if name in topology.sinks else set(topology.sinks)
    base = step  # a decode dead letter's step is its source's name
    if base not in topology.sources and all(s.id != base for s in topology.steps):
        return set(topology.sinks)
    readers: Dict[str, List[str]] = {}
    for spec in topology.steps:
        for ref in spec.inputs:
            readers.setdefault(ref.partition(".")[0], []).append(spec.id)
    after, todo = {base}, [base]
    while todo:
        for reader in readers.get(todo.pop(), []):
            if reader not in after:
                after.add(reader)
                todo.append(reader)
    return {name for name, sink in topology.sinks.items() if any(r.partition(".")[0] in after for r in sink.inputs)}
