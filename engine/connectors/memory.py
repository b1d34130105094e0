"""In-memory connectors for ``velocity-flow test``: bounded sources of given raw values (on a
timeline of processing time) and a sink that keeps what it gets.

The source hands out ``RawBatch`` items like the file source, so the topology's own decode
step runs unchanged (a malformed line is dead-lettered exactly as when read from a file). The
capture sink runs the real sink's ``encoder()`` before keeping an event, so what the real
destination would refuse (a value a DuckDB column cannot hold) is still a dead letter of
``sink:<name>``; nothing is opened or written.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from time import monotonic
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from engine import clock
from engine.records import RawBatch

BATCH = 1000  # raw lines per batch
SETTLE = 0.025  # seconds the flow is left alone before the clock moves on
QUIET_LOOKS = 8  # and as many looks of a source (each in a later round of the worker) without a keyed batch
_LOOK_AGAIN = timedelta(milliseconds=2)

Segment = Tuple[datetime, Dict[str, List[Optional[bytes]]]]  # the clock's time, the raw lines per source then


class Timeline:
    """A test case's inputs over processing time (engine/clock.py): segments, each the lines
    every source hands out while the clock reads the segment's time. The clock moves to the
    next segment once every source has handed out its lines and the flow has settled: no keyed
    step took a batch for ``SETTLE`` seconds nor while a source looked ``QUIET_LOOKS`` times
    (each look is a later round of the worker, which runs every operator with work before it
    sleeps: a process the machine left waiting is not taken for a quiet flow). The keyed
    steps' timers the clock passes fire at the new time, then the next lines come. The clock
    is set by :meth:`start` (the caller sets it back)."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self._segments = list(segments) or [(datetime.now(timezone.utc), {})]
        self._sources: Set[str] = set()  # the sources of the flow: a MemorySource each
        self._current = 0
        self._handed: Set[str] = set()  # sources that handed out the current segment
        self._counts: Dict[str, int] = {}  # lines handed out per source: positions go on
        self._moved = 0.0
        self._looks = 0  # since the last change or keyed batch
        self._lead = ""  # the source that counts the looks
        self._busy = 0.0  # clock.quiet_since() at the last look

    def add_source(self, source: str) -> None:
        self._sources.add(source)
        self._lead = min(self._sources)

    def start(self) -> None:
        clock.set_time(self._segments[0][0])

    def finished(self, source: str) -> bool:
        return self._current == len(self._segments) - 1 and source in self._handed

    def take(self, source: str) -> Optional[List[RawBatch]]:
        """The source's lines of the current segment, once; None while the clock waits."""
        if source not in self._handed:
            self._handed.add(source)
            self._moved = monotonic()
            self._looks = 0
            lines = self._segments[self._current][1].get(source, [])
            first = self._counts.get(source, 0) + 1
            self._counts[source] = first - 1 + len(lines)
            return [RawBatch(lines[i:i + BATCH], source, first + i) for i in range(0, len(lines), BATCH)]
        busy = clock.quiet_since()
        if source == self._lead:  # one source counts the worker's rounds
            self._looks = self._looks + 1 if busy == self._busy else 0
            self._busy = busy
        if (self._handed >= self._sources and self._current + 1 < len(self._segments)
                and self._looks >= QUIET_LOOKS and monotonic() - max(self._moved, busy) >= SETTLE):
            self._current += 1
            self._handed.clear()
            self._moved = monotonic()
            self._looks = 0
            clock.set_time(self._segments[self._current][0])
        return None


class _MemoryReader(StatefulSourcePartition[RawBatch, int]):
    def __init__(self, timeline: Timeline, source: str) -> None:
        self._timeline = timeline
        self._source = source
        self._awake: Optional[datetime] = None

    def next_batch(self) -> List[RawBatch]:
        if self._timeline.finished(self._source):
            raise StopIteration()
        batches = self._timeline.take(self._source)
        self._awake = None if batches else datetime.now(timezone.utc) + _LOOK_AGAIN
        return batches or []

    def next_awake(self) -> Optional[datetime]:
        return self._awake

    def snapshot(self) -> int:
        return 0  # a test runs without a recovery store


class MemorySource(FixedPartitionedSource[RawBatch, int]):
    """One source of a :class:`Timeline`, in one partition so the order is kept; positions
    read ``<source>:<n>``, n counting from 1 over the whole timeline."""

    def __init__(self, timeline: Timeline, source: str) -> None:
        self._timeline = timeline
        self._origin = source
        timeline.add_source(source)

    def list_parts(self) -> List[str]:
        return [self._origin]

    def build_part(self, step_id: str, for_part: str, resume_state: Optional[int]) -> _MemoryReader:
        return _MemoryReader(self._timeline, self._origin)


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
