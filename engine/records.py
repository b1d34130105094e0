"""The records that travel between steps: raw source batches and dead letters.

Plain classes with ``__slots__``, not dataclasses (creating a dataclass costs cpu at every
start; nothing compares these field by field); their ``repr`` shows the fields."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, List, Optional, Sequence

META_FIELD = "_meta"  # the field a decoded event carries its RawBatch.meta in
# The fields a step gives an event for its sinks: the message key (a keyed `map`, `key`,
# aggregates; keyed steps read it too), and a Kafka sink's topic and headers expressions' values
KEY_FIELD, TOPIC_FIELD, HEADERS_FIELD = "_key", "_topic", "_headers"
# The top-level fields of a source's events that may hold an object others hold too, to be
# copied before a change even in events owned whole (engine/compiler/ownership.py): a Kafka
# Connect envelope's ``schema`` (one object per table, engine/operators/connect_json.py) and
# ``_meta`` (the raw batch's, which lineage decodes again)
SHARED = frozenset({"schema", META_FIELD})


class RawBatch:
    """Undecoded values read by a source, with where they came from.

    ``first_offset`` is the position of ``values[0]`` in ``origin`` (a 1-based line number
    for files), so a dead letter can point at the exact input line. Sources whose positions
    are not consecutive (Kafka offsets) give ``offsets`` instead, one per value (a ``range``
    when they happen to be consecutive). ``meta``
    (one dict per value, or None) is added to each decoded event as the field ``_meta``:
    e.g. a Kafka message's key, headers and timestamp. A ``None`` value (a Kafka tombstone)
    carries no event and is skipped.
    """

    __slots__ = ("values", "origin", "first_offset", "offsets", "meta")

    def __init__(self, values: List[Optional[bytes]], origin: str, first_offset: Optional[int] = None,
                 offsets: Optional[Sequence[int]] = None, meta: Optional[List[dict]] = None) -> None:
        self.values, self.origin, self.first_offset, self.offsets, self.meta = \
            values, origin, first_offset, offsets, meta

    def __repr__(self) -> str:
        return _shown(self)

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


class DeadLetter:
    """An event a step could not process, and why."""

    __slots__ = ("event", "step", "error", "origin", "time")

    def __init__(self, event: Any, step: str, error: str, origin: Optional[str] = None,
                 time: Optional[float] = None) -> None:  # noqa: A002 - the field's name
        self.event, self.step, self.error, self.origin = event, step, error, origin
        self.time = _now() if time is None else time

    def __repr__(self) -> str:
        return _shown(self)

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


_now = time.time


def _shown(record: Any) -> str:
    fields = ", ".join(f"{name}={getattr(record, name)!r}" for name in type(record).__slots__)
    return f"{type(record).__name__}({fields})"
