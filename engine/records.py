"""The records that travel between steps: raw source batches and dead letters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, List, Optional


@dataclass
class RawBatch:
    """Undecoded values read by a source, with where they came from.

    ``first_offset`` is the position of ``values[0]`` in ``origin`` (a 1-based line number
    for files), so a dead letter can point at the exact input line. Sources whose positions
    are not consecutive (Kafka offsets) give ``offsets`` instead, one per value. ``meta``
    (one dict per value, or None) is added to each decoded event as the field ``_meta``:
    e.g. a Kafka message's key, headers and timestamp. A ``None`` value (a Kafka tombstone)
    carries no event and is skipped.
    """

    values: List[Optional[bytes]]
    origin: str
    first_offset: Optional[int] = None
    offsets: Optional[List[int]] = None
    meta: Optional[List[dict]] = None

    def single(self, index: int) -> "RawBatch":
        """The value at ``index`` as a batch of its own, with its position and metadata."""
        return RawBatch([self.values[index]], self.origin,
                        None if self.first_offset is None else self.first_offset + index,
                        None if self.offsets is None else [self.offsets[index]],
                        None if self.meta is None else [self.meta[index]])

    def position(self, index: int) -> str:
        if self.offsets is not None:
            return f"{self.origin}@{self.offsets[index]}"
        if self.first_offset is None:
            return self.origin
        return f"{self.origin}:{self.first_offset + index}"


@dataclass
class DeadLetter:
    """An event a step could not process, and why."""

    event: Any
    step: str
    error: str
    origin: Optional[str] = None
    time: float = field(default_factory=time.time)

    def to_record(self) -> dict:
        return {
            "step": self.step,
            "error": self.error,
            "origin": self.origin or origin_of(self.event),
            "time": datetime.fromtimestamp(self.time, timezone.utc).isoformat(),
            "event": self.event,
        }


def origin_of(event: Any) -> Optional[str]:
    """``topic[partition]@offset`` of an event read from Kafka with ``metadata: true``."""
    meta = event.get("_meta") if type(event) is dict else None
    if type(meta) is dict and "topic" in meta and "offset" in meta:
        return f"{meta['topic']}[{meta.get('partition')}]@{meta['offset']}"
    return None
