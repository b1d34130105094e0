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

A stateful step of the process may also steer the group (engine/steering.py): while a
partition it wants has messages, the others wait (``HELD``) and the wanted ones are aligned
among themselves only (the others' timestamps are what the step does not need yet).
"""

from __future__ import annotations

import threading
from typing import Dict, Hashable, Optional

from engine.steering import Steering, current, table_of

HELD = -2  # a limit no message is within (one without a timestamp counts as -1)
_GROUPS: Dict[Hashable, "Alignment"] = {}
_LOCK = threading.Lock()  # Bytewax workers of one process are threads


class Alignment:
    """The fronts (timestamp in ms of the next message) of the partitions of one group."""

    def __init__(self, lead_ms: int) -> None:
        self.lead_ms = lead_ms
        self._fronts: Dict[object, int] = {}
        self._tables: Dict[object, str] = {}
        self._steering: Optional[Steering] = None

    def join(self, reader: object, topic: str, front_ms: int) -> None:
        """A reader of ``topic`` starts at ``front_ms``; the group follows the running flow's steering."""
        self._steering = current()
        self._tables[reader] = table_of(topic)
        self.set_front(reader, front_ms)

    def set_front(self, reader: object, front_ms: Optional[int]) -> None:
        """``None``: the reader is caught up (or has ended) and holds nobody back."""
        if front_ms is None:
            self._fronts.pop(reader, None)
        else:
            self._fronts[reader] = front_ms

    def limit(self, reader: object) -> Optional[int]:
        """The newest timestamp ``reader`` may deliver now; ``None`` = no limit, ``HELD``: none."""
        fronts = dict(self._fronts)  # one C call: readers on other worker threads may change it meanwhile
        fronts.pop(reader, None)
        steering = self._steering
        if steering is not None and steering.active():
            wanted = [other for other in fronts if steering.wanted(self._tables.get(other, ""))]
            if steering.wanted(self._tables.get(reader, "")):
                fronts = {other: fronts[other] for other in wanted}
            elif wanted:
                return HELD
        return min(fronts.values()) + self.lead_ms if fronts else None

    def leave(self, reader: object) -> None:
        self._fronts.pop(reader, None)
        self._tables.pop(reader, None)


def alignment(key: Hashable, lead_ms: int) -> Alignment:
    """The shared alignment of every reader created with the same ``key`` in this process."""
    with _LOCK:
        return _GROUPS.setdefault((key, lead_ms), Alignment(lead_ms))
