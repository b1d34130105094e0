"""Which bound flows can run as shares (engine/shares.py): derived from each component's
``shares`` declaration (engine/catalog/component.py), nothing listed here."""

from __future__ import annotations

from typing import List

from engine.binding.model import Topology
from engine.catalog.registry import components


def blockers(topology: "Topology") -> List[str]:
    """Why the flow cannot run as shares (each a short phrase); empty when it can."""
    declared = {role: components(role) for role in ("source", "operator", "sink")}

    def shares(role: str, kind: str) -> bool:
        found = declared[role].get(kind)
        return found is not None and found.shares

    found = [f"source '{s.name}' ({s.kind}) is not divided among processes"
             for s in topology.sources.values() if not shares("source", s.kind)]
    found += [f"step '{s.id}' ({s.op}) keeps state across events" for s in topology.steps
              if not shares("operator", s.op)]
    sinks = list(topology.sinks.values()) + ([topology.dead_letter] if topology.dead_letter is not None else [])
    found += [f"{'the dead-letter sink' if s is topology.dead_letter else f'sink {s.name!r}'} ({s.kind}) "
              f"is written by one process" for s in sinks if not shares("sink", s.kind)]
    return found
