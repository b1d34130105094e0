"""The last dead letters of a run, for ``/api/v1/dead-letters`` and the page.

A tap on the dead-letter stream (``CompileOptions.taps``) hands each batch of dead letters to
:meth:`RecentDeadLetters.add`: it keeps the last ``keep`` and counts them by step (a sink's
dead letters included, which no step counter has). Nothing is converted until read, and only
a batch that holds dead letters costs anything. Read records are redacted and their event
cut to ``EVENT_CHARS`` characters.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from typing import Any, Callable, Dict, List

from engine.connectors.jsonl import encode_value

KEEP = 100
EVENT_CHARS = 2000


class RecentDeadLetters:
    def __init__(self, redact: Callable[[str], str], keep: int = KEEP) -> None:
        self.redact = redact
        self._recent: deque = deque(maxlen=keep)
        self._by_step: Counter = Counter()
        self._lock = threading.Lock()

    def add(self, batch: List[Any]) -> None:
        with self._lock:
            self._recent.extend(batch)
            for dead in batch:
                self._by_step[getattr(dead, "step", "?")] += 1

    def by_step(self) -> Dict[str, int]:
        with self._lock:
            counts = dict(self._by_step)
        return {self.redact(step): count for step, count in counts.items()}

    def records(self, limit: int = KEEP) -> List[dict]:
        """The last ``limit`` dead letters, newest first, as the dead-letter sink writes them."""
        with self._lock:
            recent = list(self._recent)[-limit:] if limit > 0 else []
        return [self._record(dead) for dead in reversed(recent)]

    def _record(self, dead) -> dict:
        record = dead.to_record()
        try:
            event = encode_value(record["event"]).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - any event can still be shown
            event = repr(record["event"])
        if len(event) > EVENT_CHARS:
            event = f"{event[:EVENT_CHARS]}... ({len(event)} characters in all)"
        shown = {k: (None if v is None else self.redact(str(v))) for k, v in record.items() if k != "event"}
        shown["event"] = self.redact(event)
        return json.loads(json.dumps(shown))
