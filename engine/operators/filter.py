"""``filter``: keep the events whose predicate is exactly true."""

from __future__ import annotations

from engine.operators.codegen import build_function
from engine.operators.dead import one_by_one
from engine.operators.expr import compile_option


class Filter:
    """Keeps events for which the predicate is ``true``; null and false drop the event.

    The predicate is fused into one list comprehension over the batch; if any event makes it
    raise, the batch is re-run event by event so only the bad events are dead-lettered.
    """

    kind = "stateless"

    def __init__(self, step_id: str, config: str, input_fields, context=None) -> None:
        self.step_id = step_id
        self.predicate = compile_option(config, input_fields, ())
        self.output_fields = input_fields
        self._fast = build_function(
            "keep", f"def keep(batch):\n    return [e for e in batch if {self.predicate.test}]\n", step_id
        )

    def process(self, batch: list):
        try:
            return self._fast(batch), []
        except Exception:  # noqa: BLE001 - find which events fail, below
            predicate = self.predicate
            return one_by_one(self.step_id, batch, lambda e: e if predicate.holds(e) else None)
