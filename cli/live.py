"""The rich live view of a running topology, and its end-of-run summary."""

from __future__ import annotations

import time
from typing import Callable, Dict, Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.metrics import MetricsRegistry, StepCounters


class LiveView:
    """A table of events in / out / dead-lettered per step, with the current rate."""

    def __init__(self, title: str, metrics: MetricsRegistry, redact: Callable[[str], str] = str) -> None:
        self.redact = redact  # step names and the title may hold values from the environment
        self.title = redact(title)
        self.metrics = metrics
        self.started = time.monotonic()
        self._last: Dict[str, int] = {}
        self._last_time = self.started
        self._rates: Dict[str, float] = {}

    def _update_rates(self, snapshot: Dict[str, StepCounters]) -> None:
        now = time.monotonic()
        elapsed = now - self._last_time
        if elapsed < 0.2:
            return
        for name, counters in snapshot.items():
            before = self._last.get(name, 0)
            self._rates[name] = (counters.events_in - before) / elapsed
            self._last[name] = counters.events_in
        self._last_time = now

    def render(self, final: bool = False) -> Table:
        snapshot = self.metrics.snapshot()
        if not final:
            self._update_rates(snapshot)
        elapsed = time.monotonic() - self.started
        state = "finished" if final else "running"
        table = Table(title=f"{escape(self.title)} - {state} {elapsed:.1f}s", title_justify="left")
        table.add_column("step")
        for column in ("in", "out", "dead", "events/s"):
            table.add_column(column, justify="right")
        for name, counters in snapshot.items():
            rate = counters.events_in / elapsed if final and elapsed > 0 else self._rates.get(name, 0.0)
            dead = f"[red]{counters.dead:,}[/red]" if counters.dead else "0"
            table.add_row(escape(self.redact(name)), f"{counters.events_in:,}", f"{counters.events_out:,}", dead,
                          f"{rate:,.0f}")
        health = []
        for name, gauges in self.metrics.health().items():
            shown = [f"{key.replace('_', ' ')} {value}" for key, value in gauges.items()
                     if not key.endswith("_per_partition")]  # (a table of their own, not one line)
            if shown:
                health.append(f"{name}: " + ", ".join(shown))
        if health:
            table.caption = escape(self.redact("; ".join(health)))
            table.caption_justify = "left"
        return table

    def __rich__(self) -> Table:
        return self.render()


def dead_letter_total(metrics: MetricsRegistry, dead_letter_step: str) -> int:
    sink: Optional[StepCounters] = metrics.snapshot().get(dead_letter_step)
    return sink.events_in if sink else 0


def print_summary(console: Console, view: LiveView) -> None:
    console.print(view.render(final=True))
