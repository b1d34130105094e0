"""In-memory connectors for ``velocity-flow test``: a bounded source of given raw values and
a sink that keeps what it gets.

The source hands out ``RawBatch`` items like the file source, so the topology's own decode
step runs unchanged (a malformed line is dead-lettered exactly as when read from a file). The
capture sink runs the real sink's ``encoder()`` before keeping an event, so what the real
destination would refuse (a value a DuckDB column cannot hold) is still a dead letter of
``sink:<name>``; nothing is opened or written.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from engine.records import RawBatch


class _MemoryReader(StatefulSourcePartition[RawBatch, int]):
    def __init__(self, batches: List[RawBatch], start: int) -> None:
        self._batches = batches
        self._next = start

    def next_batch(self) -> List[RawBatch]:
        if self._next >= len(self._batches):
            raise StopIteration()
        self._next += 1
        return [self._batches[self._next - 1]]

    def snapshot(self) -> int:
        return self._next


class MemorySource(FixedPartitionedSource[RawBatch, int]):
    """``values`` (raw bytes, one per event) as batches of ``batch_size``, from one partition,
    so their order is kept; positions read ``<origin>:<n>``, n counting from 1."""

    def __init__(self, values: Sequence[bytes], origin: str, batch_size: int = 1000) -> None:
        items = list(values)
        self._batches = [RawBatch(list(items[i:i + batch_size]), origin, i + 1)
                         for i in range(0, len(items), batch_size)]
        self._origin = origin

    def list_parts(self) -> List[str]:
        return [self._origin]

    def build_part(self, step_id: str, for_part: str, resume_state: Optional[int]) -> _MemoryReader:
        return _MemoryReader(self._batches, resume_state or 0)


Encoded = List[Tuple[Any, Any]]  # one batch of (event, what the real sink would write)


class _Keeper(StatelessSinkPartition[Encoded]):
    def __init__(self, kept: List[Any]) -> None:
        self._kept = kept

    def write_batch(self, items: List[Encoded]) -> None:
        self._kept.extend(event for batch in items for event, _encoded in batch)


class CaptureSink(DynamicSink[Encoded]):
    """Keeps, in ``kept``, every event that ``encode`` accepts (the real sink's encoder)."""

    def __init__(self, encode: Callable[[Any], Any], kept: List[Any]) -> None:
        self._encode = encode
        self.kept = kept

    def encoder(self) -> Callable[[Any], Tuple[Any, Any]]:
        encode = self._encode

        def keep_event(event: Any) -> Tuple[Any, Any]:
            return event, encode(event)  # raises as the real sink would: a dead letter

        return keep_event

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Keeper:
        return _Keeper(self.kept)
