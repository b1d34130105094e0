"""``with_previous``: each event, with the previous event of the same key attached.

The stateful half of comparing an entity's old and new state (the seed's Event Engine):
``with_previous: {key: order_id}`` emits every event with a field ``previous`` holding the
last event of that key (null for the first), so a ``branch`` or ``map`` after it can say
``status == 'DEPARTED' and previous.status != 'DEPARTED'``. ``fields`` limits what is
remembered per key (less state); ``as`` renames the attached field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from engine.operators.expr import compile_option
from engine.operators.fields import with_fields
from engine.operators.map import KEY_FIELD, key_text
from engine.operators.dead import describe
from engine.records import DeadLetter


@dataclass
class Remembered:
    last: Optional[dict] = None


class WithPrevious:
    kind = "keyed"

    def __init__(self, step_id: str, config: Optional[dict], input_fields, context=None) -> None:
        config = config or {}
        self.step_id = step_id
        self.key = compile_option(config["key"], input_fields, ("key",)) if config.get("key") else None
        self.alias = config.get("as", "previous")
        self.fields: Optional[List[str]] = list(config["fields"]) if config.get("fields") else None
        self.output_fields = with_fields(input_fields, {self.alias: "json"}) if input_fields is not None else None

    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        groups: Dict[str, list] = {}
        deads = []
        for event in batch:
            try:
                value = self.key(event) if self.key is not None else event.get(KEY_FIELD)
                text = key_text(value)
            except Exception as exc:  # noqa: BLE001 - this event, not the batch
                deads.append(DeadLetter(event, self.step_id, f"key: {describe(exc)}"))
                continue
            if value is None:
                deads.append(DeadLetter(event, self.step_id, "the key is null"))
                continue
            groups.setdefault(text, []).append((text, event))
        return list(groups.items()), deads

    def logic(self, state: Optional[Remembered] = None) -> "PreviousTracker":
        return PreviousTracker(self, state or Remembered())

    def remember(self, event: dict) -> dict:
        kept = {k: v for k, v in event.items() if k != self.alias}
        return kept if self.fields is None else {k: kept.get(k) for k in self.fields}


class PreviousTracker:
    def __init__(self, step: WithPrevious, state: Remembered) -> None:
        self.step = step
        self.s = state

    def add(self, pairs: list, now):
        out = []
        for _, event in pairs:
            out.append({**event, self.step.alias: self.s.last})
            self.s.last = self.step.remember(event)
        return out, []

    def due(self, now):
        return [], []

    def flush(self):
        return [], []

    def next_notification(self):
        return None

    def resume(self, now) -> None:
        return None

    def state(self) -> Remembered:
        return self.s

    @property
    def disposable(self) -> bool:
        return False
