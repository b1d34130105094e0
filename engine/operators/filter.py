"""``filter``: keep the events whose predicate is exactly true."""

from __future__ import annotations

from engine.errors import ConfigError
from engine.expressions import types
from engine.operators.codegen import FirstTry, build_function
from engine.operators.dead import one_by_one
from engine.operators.expr import compile_option


class Filter:
    """Keeps events for which the predicate is ``true``; null and false drop the event.

    The predicate is fused into one list comprehension over the batch; if any event makes it
    raise, the batch is re-run event by event so only the bad events are dead-lettered.
    """

    kind = "stateless"
    passes_input = True  # gives on the events it keeps, unchanged (engine/compiler/ownership.py)

    def __init__(self, step_id: str, config: str, input_fields) -> None:
        self.step_id = step_id
        self.predicate = compile_option(config, input_fields, ())
        check_condition(config, self.predicate.type)
        self.output_fields = input_fields
        self._fast = FirstTry(lambda: _keep(step_id, self.predicate.strict()[1]), _keep(step_id, self.predicate.test))

    def process(self, batch: list):
        try:
            return self._fast(batch), []
        except Exception:  # noqa: BLE001 - find which events fail, below
            predicate = self.predicate
            return one_by_one(self.step_id, batch, lambda e: e if predicate.holds(e) else None)


def _keep(step_id: str, test: str):
    return build_function("keep", f"def keep(batch):\n    return [e for e in batch if {test}]\n", step_id)


def check_condition(text: str, type_name: str, path: tuple = (), what: str = "a filter") -> None:
    """A condition (a filter, a route's ``when``) whose type is known and not bool would never
    hold: refused. ``any`` and ``json`` (known only per event) stay allowed; a non-boolean value
    then fails that event."""
    kind = types.kind(type_name)
    if kind in ("bool", "any", "json"):
        return
    if kind == "null":
        message = ("this filter is always null, which drops every event" if what == "a filter"
                   else f"{what} is always null: it never holds")
        raise ConfigError(message, path, offset=0, hint="a condition holds for the events for which it is true")
    short = text.strip() if len(text.strip()) <= 40 else "x"
    example = {"str": f"{short} != ''", "list": f"length({short}) > 0"}.get(
        kind, f"{short} > 0" if kind in types.NUMERIC else f"{short} is not null")
    consequence = "it would drop every event" if what == "a filter" else "it would never hold"
    raise ConfigError(f"{what} must be a condition (bool), got {type_name}: {consequence}", path,
                      offset=0, hint=f"compare it, e.g. {example}")
