"""Opening a single-partition sink when a run starts, even if nothing reaches it.

Bytewax builds a sink partition when its first item arrives, or at start when the recovery
store holds a state for it. A sink that must act when a fresh run starts (a file sink in
``overwrite`` mode empties its file) would otherwise keep the previous run's content when the
run writes nothing to it. So :func:`opened` merges one empty batch into the sink's stream,
sent once by a source whose own state remembers it was sent: a fresh run builds the partition
with ``resume_state=None``; a resumed run does not send it again, and the partition is built
from its state (or by its first item) as before.
"""

from __future__ import annotations

from typing import List, Optional

from bytewax.dataflow import Stream
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from engine.connectors.lazy_operators import op

_PART = "open"


class _Once(StatefulSourcePartition[list, bool]):
    def __init__(self, sent: bool) -> None:
        self._sent = sent

    def next_batch(self) -> List[list]:
        if self._sent:
            raise StopIteration()
        self._sent = True
        return [[]]  # one empty batch: the sink writes nothing

    def snapshot(self) -> bool:
        return self._sent


class _Opening(FixedPartitionedSource[list, bool]):
    def list_parts(self) -> List[str]:
        return [_PART]

    def build_part(self, step_id: str, for_part: str, resume_state: Optional[bool]) -> _Once:
        return _Once(bool(resume_state))


def opened(step_id: str, up: Stream) -> Stream:
    """``up`` with one empty batch more at the start of a fresh run."""
    return op.merge(f"{step_id}:merge", up, op.input(step_id, up.flow(), _Opening()))
