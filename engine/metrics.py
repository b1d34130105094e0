"""Per-step counters shared by operators, connectors and the live view.

Bytewax runs the workers of one process as threads, so each counter takes a lock; it is
taken once per batch, never per event.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Dict


@dataclass
class StepCounters:
    """Events in, out and dead-lettered by one step (summed over the process's workers)."""

    step: str
    events_in: int = 0
    events_out: int = 0
    dead: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, events_in: int = 0, events_out: int = 0, dead: int = 0) -> None:
        with self._lock:
            self.events_in += events_in
            self.events_out += events_out
            self.dead += dead


class MetricsRegistry:
    """The counters of one run, by step id, in the order steps were registered."""

    def __init__(self) -> None:
        self._steps: Dict[str, StepCounters] = {}
        self._lock = threading.Lock()

    def step(self, step_id: str) -> StepCounters:
        with self._lock:
            counters = self._steps.get(step_id)
            if counters is None:
                counters = self._steps[step_id] = StepCounters(step_id)
            return counters

    def snapshot(self) -> Dict[str, StepCounters]:
        with self._lock:
            return {
                k: StepCounters(k, c.events_in, c.events_out, c.dead) for k, c in self._steps.items()
            }
