"""``with_previous``: each event, with the previous event of the same key attached.

The stateful half of comparing an entity's old and new state (the seed's Event Engine):
``with_previous: {key: order_id}`` emits every event with a field ``previous`` holding the
last event of that key (null for the first), so a ``branch`` or ``map`` after it can say
``status == 'DEPARTED' and previous.status != 'DEPARTED'``. ``fields`` limits what is
remembered per key (less state); ``as`` renames the attached field. ``remember_if`` (a
predicate over the emitted event, the previous one attached) remembers only the events for which
it is exactly true: a key's newest state, where events may come again or out of order
(``remember_if: "previous is null or position > previous.position"``); an event whose predicate
fails is a dead letter, the state unchanged.

Debezium's placeholder of an unchanged TOAST value (engine/unavailable.py) in a top-level field
is the previous event's value of that field, where one is remembered: the event is emitted and
remembered with that value, so ``previous.notes != notes`` is false for notes left unchanged and
the next event's ``previous`` holds the value, not the placeholder.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

from engine import unavailable
from engine.operators.dead import describe
from engine.operators.expr import compile_option
from engine.operators.fields import with_fields
from engine.operators.keyed import KeyedStep, KeyLogic, Released, group_by_key
from engine.records import KEY_FIELD, DeadLetter

# Snapshots taken when this module was engine/operators/previous.py name its state class by
# that path (pickle looks classes up by module and name): keep it resolvable.
sys.modules.setdefault("engine.operators.previous", sys.modules[__name__])


@dataclass
class Remembered:
    last: Optional[dict] = None


class PreviousTracker(KeyLogic):
    State = Remembered

    def add(self, pairs: list, now) -> Released:
        out: List[dict] = []
        deads: List[DeadLetter] = []
        carries = unavailable.carries
        step = self.step
        remember_if = step.remember_if
        for _, event in pairs:
            last = self.s.last
            if last is not None and carries(event):  # an event without placeholders pays this test only
                event = unavailable.filled(event, last)
            emitted = {**event, step.alias: last}
            try:
                keep = remember_if is None or remember_if(emitted) is True
            except Exception as exc:  # noqa: BLE001 - this event's failure: dead-lettered, the state unchanged
                deads.append(DeadLetter(event, step.step_id, f"remember_if: {describe(exc)}"))
                continue
            out.append(emitted)
            if keep:
                self.s.last = step.remember(event)
        return out, deads


class WithPrevious(KeyedStep):
    Logic = PreviousTracker

    def __init__(self, step_id: str, config: Optional[dict], input_fields) -> None:
        config = config or {}
        self.step_id = step_id
        self.key = compile_option(config["key"], input_fields, ("key",)) if config.get("key") else None
        self.alias = config.get("as", "previous")
        self.fields: Optional[List[str]] = list(config["fields"]) if config.get("fields") else None
        self.output_fields = with_fields(input_fields, {self.alias: "json"}) if input_fields is not None else None
        remember_if = config.get("remember_if")
        self.remember_if = (compile_option(remember_if, self.output_fields, ("remember_if",)).function
                            if remember_if else None)

    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        key_of = self.key if self.key is not None else (lambda event: event.get(KEY_FIELD))
        return group_by_key(batch, self.step_id, key_of, "the key is null")

    def remember(self, event: dict) -> dict:
        kept = {k: v for k, v in event.items() if k != self.alias}
        # a field the event lacks is not remembered (as null it would fill a later placeholder with null)
        return kept if self.fields is None else {k: kept[k] for k in self.fields if k in kept}

