"""Timestamp alignment of the Kafka partitions one process reads (Kafka Streams' "stream time").

A flow that joins several topics (Debezium's tables and its transaction topic) needs their
messages of the same moment together. Read independently, a backlog breaks that: every
partition delivers one batch per round, a topic with small messages runs minutes ahead of one
with large ones, and everything the stateful step must hold until the slow topic catches up
piles up in its state (and in every snapshot of it). Here a partition whose next messages are
more than ``lead`` newer than the oldest next message of a lagging partition waits for it.

Only an order of delivery is chosen, never a result: the partition with the oldest next message
always may go, so reading never stops; partitions that are caught up (or in another process)
hold nobody back. Timestamps are the messages' own (CreateTime or LogAppendTime).
"""

from __future__ import annotations

import threading
from typing import Dict, Hashable, Optional

_GROUPS: Dict[Hashable, "Alignment"] = {}
_LOCK = threading.Lock()  # Bytewax workers of one process are threads


class Alignment:
    """The fronts (timestamp in ms of the next message) of the partitions of one group."""

    def __init__(self, lead_ms: int) -> None:
        self.lead_ms = lead_ms
        self._fronts: Dict[object, int] = {}

    def set_front(self, reader: object, front_ms: Optional[int]) -> None:
        """``None``: the reader is caught up (or has ended) and holds nobody back."""
        if front_ms is None:
            self._fronts.pop(reader, None)
        else:
            self._fronts[reader] = front_ms

    def limit(self, reader: object) -> Optional[int]:
        """The newest timestamp ``reader`` may deliver now; ``None`` = no limit."""
        others = [front for other, front in self._fronts.items() if other is not reader]
        return min(others) + self.lead_ms if others else None

    def leave(self, reader: object) -> None:
        self._fronts.pop(reader, None)


def alignment(key: Hashable, lead_ms: int) -> Alignment:
    """The shared alignment of every reader created with the same ``key`` in this process."""
    with _LOCK:
        return _GROUPS.setdefault((key, lead_ms), Alignment(lead_ms))
