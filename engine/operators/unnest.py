"""``unnest``: one output event per item of a list field (the inverse of ``collect``)."""

from __future__ import annotations

from typing import List

from engine.errors import ConfigError
from engine.operators.fields import fully_known
from engine.records import DeadLetter


class Unnest:
    """``unnest: {field: changes, as: change, keep: [tx_id, key]}``: each item of ``changes``
    becomes an event ``{change: item, tx_id: ..., key: ...}``; an item that is an object can
    instead be merged into the event with ``as: null`` (its fields become top-level). Events
    whose list is null or empty produce nothing; a value that is not a list is dead-lettered.
    With ``as: null``, items that are not objects are dead-lettered as one dead letter per
    event (the event once, with how many items failed), so dead letters grow with the input."""

    kind = "stateless"
    expands = True  # any number of events per input (engine.lineage)

    def __init__(self, step_id: str, config: dict, input_fields) -> None:
        self.step_id = step_id
        self.field = config["field"]
        self.alias = config.get("as", self.field) if "as" in config else self.field
        self.keep: List[str] = list(config.get("keep") or [])
        if fully_known(input_fields):
            for index, name in enumerate([self.field, *self.keep]):
                if name not in input_fields:
                    raise ConfigError(f"unknown field '{name}'", ("field",) if index == 0 else ("keep", index - 1),
                                      hint="fields here: " + ", ".join(sorted(input_fields)))
        kept = {name: (input_fields or {}).get(name, "any") for name in self.keep}
        self.output_fields = {**kept, self.alias: "any"} if self.alias else None

    def process(self, batch: list):
        oks, deads = [], []
        for event in batch:
            items = event.get(self.field)
            if items is None:
                continue
            if type(items) is not list:
                deads.append(DeadLetter(event, self.step_id, f"'{self.field}' is not a list: {type(items).__name__}"))
                continue
            base = {name: event.get(name) for name in self.keep}
            if self.alias:
                oks += [{**base, self.alias: item} for item in items]
                continue
            failed = False
            for item in items:
                if type(item) is dict:
                    oks.append({**base, **item})
                else:
                    failed = True
            if failed:  # one dead letter per event, however many of its items fail
                deads.append(DeadLetter(event, self.step_id, self._not_objects(items)))
        return oks, deads

    def _not_objects(self, items: list) -> str:
        first = next(index for index, item in enumerate(items) if type(item) is not dict)
        count = sum(1 for item in items if type(item) is not dict)
        went_on = f"; the other {len(items) - count} went on" if count < len(items) else ""
        return (f"'{self.field}': {count} of {len(items)} items are not objects (first at index {first}: "
                f"{type(items[first]).__name__}){went_on}")
