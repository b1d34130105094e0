"""``validate``: dead-letter the events that violate a JSON Schema."""

from __future__ import annotations

from typing import List

from engine.operators.jsonschemas import EventSchema
from engine.records import DeadLetter


def split_valid(step_id: str, schema: EventSchema, batch: list):
    """(valid events, dead letters for the others)."""
    accept = schema.accept
    try:
        if accept is not None and all(map(accept, batch)):  # the usual batch: each event surely valid
            return list(batch), []
    except Exception:  # noqa: BLE001, S110 - not sure: each event's own check tells
        pass
    oks: list = []
    deads: List[DeadLetter] = []
    for event in batch:
        reason = schema.violation(event)
        if reason is None:
            oks.append(event)
        else:
            deads.append(DeadLetter(event, step_id, reason))
    return oks, deads


class Validate:
    kind = "stateless"

    def __init__(self, step_id: str, config: dict, input_fields) -> None:
        self.step_id = step_id
        self.schema = EventSchema(config["schema"])
        self.output_fields = input_fields

    def process(self, batch: list):
        return split_valid(self.step_id, self.schema, batch)
