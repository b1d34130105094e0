"""Per-step counters shared by operators, connectors and the live view.

Bytewax runs the workers of one process as threads, so each counter takes a lock; it is
taken once per batch, never per event.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Any, Dict, List, Optional

# Upper bounds (seconds) of the per-batch processing time histogram; one more bucket is +Inf.
BATCH_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StepCounters:  # a plain class: a dataclass costs ~2M instructions to make at import
    """Events in, out and dead-lettered by one step (summed over the process's workers)."""

    def __init__(self, step: str, events_in: int = 0, events_out: int = 0, dead: int = 0,
                 batch_counts: Optional[List[int]] = None, batch_seconds: float = 0.0) -> None:
        self.step = step
        self.events_in = events_in
        self.events_out = events_out
        self.dead = dead
        # batches processed by time taken: one count per BATCH_SECONDS bound (not cumulative) and +Inf
        self.batch_counts = [0] * (len(BATCH_SECONDS) + 1) if batch_counts is None else batch_counts
        self.batch_seconds = batch_seconds  # their total time
        self._lock = threading.Lock()

    def _compared(self) -> tuple:
        return self.step, self.events_in, self.events_out, self.dead, self.batch_seconds

    def __eq__(self, other: object) -> bool:  # as the dataclass compared: not the counts per bound
        if other.__class__ is not StepCounters:
            return NotImplemented
        return self._compared() == other._compared()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"StepCounters(step={self.step!r}, events_in={self.events_in!r}, events_out={self.events_out!r}, "
                f"dead={self.dead!r}, batch_counts={self.batch_counts!r}, batch_seconds={self.batch_seconds!r})")

    def add(self, events_in: int = 0, events_out: int = 0, dead: int = 0, seconds: Optional[float] = None) -> None:
        """Count one batch's events; ``seconds``, the time it took, when measured."""
        with self._lock:
            self.events_in += events_in
            self.events_out += events_out
            self.dead += dead
            if seconds is not None:
                self.batch_counts[bisect_left(BATCH_SECONDS, seconds)] += 1
                self.batch_seconds += seconds

    def copy(self) -> "StepCounters":
        with self._lock:
            return StepCounters(self.step, self.events_in, self.events_out, self.dead, list(self.batch_counts),
                                self.batch_seconds)


class Gauges:
    """The health of one connector, as its latest values (a source's lag per partition and the
    time of its last event, a sink's last delivery, whether the brokers answer)."""

    def __init__(self) -> None:
        self._values: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = value

    def put(self, key: str, part: str, value: Any) -> None:
        """One partition's value of ``key`` (``lag``: summed in the snapshot, listed per partition)."""
        with self._lock:
            self._values.setdefault(key, {})[part] = value

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            out = {k: dict(v) if isinstance(v, dict) else v for k, v in self._values.items()}
        lag = out.pop("lag", None)
        if lag is not None:
            out["lag"], out["lag_per_partition"] = sum(lag.values()), lag
        return out


class MetricsRegistry:
    """The counters of one run, by step id, in the order steps were registered."""

    def __init__(self) -> None:
        self._steps: Dict[str, StepCounters] = {}
        self._gauges: Dict[str, Gauges] = {}
        self._lock = threading.Lock()

    def gauges(self, name: str) -> Gauges:
        """The health gauges of the source or sink ``name`` (``sink:<name>`` for a sink)."""
        with self._lock:
            return self._gauges.setdefault(name, Gauges())

    def health(self) -> Dict[str, Dict[str, Any]]:
        with self._lock:
            gauges = dict(self._gauges)
        return {name: g.snapshot() for name, g in gauges.items()}

    def step(self, step_id: str) -> StepCounters:
        with self._lock:
            counters = self._steps.get(step_id)
            if counters is None:
                counters = self._steps[step_id] = StepCounters(step_id)
            return counters

    def snapshot(self) -> Dict[str, StepCounters]:
        with self._lock:
            steps = dict(self._steps)
        return {k: c.copy() for k, c in steps.items()}
