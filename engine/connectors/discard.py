"""A sink that keeps nothing: the sinks of a dry run (``velocity-flow tap``, ``replay --dry-run``).

It encodes as the sink it stands for does (``encoder`` is that sink's), so an event the real
destination could not take is still a dead letter of ``sink:<name>``; it then drops the
encoded items, so a dry run writes nowhere.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from engine.metrics import StepCounters


class _Dropping(StatelessSinkPartition[Any]):
    def __init__(self, metrics: Optional[StepCounters]) -> None:
        self._metrics = metrics

    def write_batch(self, items: List[Any]) -> None:
        if self._metrics is not None:
            count = sum(len(i) if isinstance(i, list) else 1 for i in items)
            self._metrics.add(events_in=count, events_out=count)


class DiscardSink(DynamicSink[Any]):
    """Takes every item, keeps none; ``encode`` is the encoder of the sink it replaces."""

    def __init__(self, encode: Optional[Callable[[Any], Any]] = None, metrics: Optional[StepCounters] = None) -> None:
        self._encode = encode or _same
        self._metrics = metrics

    def encoder(self) -> Callable[[Any], Any]:
        return self._encode

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Dropping:
        return _Dropping(self._metrics)


def _same(item: Any) -> Any:
    return item
