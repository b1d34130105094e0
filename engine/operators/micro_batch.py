"""``micro_batch``: hold events for a fixed interval, then release them together.

The seed's MicroBatch: every ``every`` (default 5s, processing time) the pending events go
downstream as one batch per chunk, so a sink that writes one transaction per batch (DuckDB
with ``tables``) applies them atomically. ``chunks`` splits the work; events with the same
``key`` always land in the same chunk, so one entity's changes stay together and in order.

Each chunk is its own keyed state with its own timer, released as its own batch: chunks of one
period reach the sink in no fixed order. A row whose domain key changes inside a period (a
handling unit moved from order A to order B) has changes in two chunks, and the older one may
be written last. Ordering therefore is not this operator's job: the DuckDB ``tables`` sink
applies each row's changes by their source position (``engine.connectors.duckdb_positions``),
whatever the chunking.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Dict, List, Optional, Tuple

from engine.durations import duration_option
from engine.errors import ConfigError
from engine.operators.dead import describe
from engine.operators.expr import compile_option
from engine.operators.keyed import KeyedStep, KeyLogic, Released
from engine.operators.map import key_text
from engine.records import KEY_FIELD, DeadLetter


class Pending:
    """A key's held events. A plain class, not a dataclass (dataclasses is ~8M instructions to
    import, and a topology's validate imports this module); it pickles as the dataclass did
    (its ``__dict__``), so snapshots taken before resume with it."""

    def __init__(self, events: Optional[List[dict]] = None, release_at: Optional[datetime] = None) -> None:
        self.events: List[dict] = [] if events is None else events
        self.release_at = release_at

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.events, self.release_at) == (other.events, other.release_at)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"Pending(events={self.events!r}, release_at={self.release_at!r})"


class MicroBatcher(KeyLogic):
    State = Pending

    def add(self, pairs: list, now: datetime) -> Released:
        if not self.s.events:
            self.s.release_at = now + self.step.every
        self.s.events.extend(event for _, event in pairs)
        return self.due(now)

    def due(self, now: datetime) -> Released:
        if self.s.release_at is None or now < self.s.release_at:
            return [], []
        return self.flush()

    def flush(self) -> Released:
        events, self.s.events, self.s.release_at = self.s.events, [], None
        return events, []

    def next_notification(self) -> Optional[datetime]:
        return self.s.release_at

    def resume(self, now: datetime) -> None:
        if self.s.events:
            self.s.release_at = now + self.step.every

    @property
    def disposable(self) -> bool:
        return not self.s.events


class MicroBatch(KeyedStep):
    Logic = MicroBatcher

    def __init__(self, step_id: str, config: Optional[dict], input_fields) -> None:
        config = config or {}
        self.step_id = step_id
        self.every: timedelta = duration_option(config.get("every", "5s"), ("every",))
        self.chunks = int(config.get("chunks", 1))
        if self.chunks < 1:
            raise ConfigError("chunks must be at least 1", ("chunks",))
        self.key = compile_option(config["key"], input_fields, ("key",)) if config.get("key") else None
        self.output_fields = input_fields

    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """Events go to their key's chunk (no key: chunk 0); an event whose key expression
        fails is dead-lettered with the reason."""
        groups: Dict[str, list] = {}
        deads: List[DeadLetter] = []
        for event in batch:
            try:
                value = self.key(event) if self.key is not None else event.get(KEY_FIELD)
                chunk = "0" if value is None else \
                    str(zlib.crc32(key_text(value).encode("utf-8", "surrogatepass")) % self.chunks)  # any text
            except Exception as exc:  # noqa: BLE001 - this event, not the batch
                deads.append(DeadLetter(event, self.step_id, f"key: {describe(exc)}"))
                continue
            groups.setdefault(chunk, []).append((chunk, event))
        return list(groups.items()), deads
