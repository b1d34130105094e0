"""``route`` and ``branch``: send events to named outputs by predicate."""

from __future__ import annotations

from typing import Dict, List

from engine.operators.codegen import build_function
from engine.operators.dead import describe
from engine.operators.expr import compile_option
from engine.operators.filter import check_condition
from engine.records import DeadLetter


class Route:
    """Each event goes to the first output whose predicate is true (``route``: tried in order, the
    ones after it not evaluated, so they cannot fail the event), or to every such output
    (``branch``); events matching none go to ``otherwise`` when it is named."""

    kind = "route"
    first_match_only = True

    def __init__(self, step_id: str, config: dict, input_fields) -> None:
        self.step_id = step_id
        self.output_fields = input_fields
        self.predicates = {name: compile_option(text, input_fields, ("when", name))
                           for name, text in config["when"].items()}
        for name, predicate in self.predicates.items():
            check_condition(config["when"][name], predicate.type, ("when", name), f"the 'when' of output '{name}'")
        self.otherwise = config.get("otherwise")
        self.outputs: List[str] = list(self.predicates) + ([self.otherwise] if self.otherwise else [])
        checks = [f"({p.test})" for p in self.predicates.values()]  # truthy exactly when true
        if self.first_match_only:  # tried in order: a predicate after the first that holds is not evaluated
            body = "".join(f"    if {check}: return {index}\n" for index, check in enumerate(checks))
            self._matches = build_function("matches", f"def matches(e):\n{body}    return -1\n", step_id)
        else:
            body = ", ".join(checks)
            self._matches = build_function("matches", f"def matches(e):\n    return ({body},)\n", step_id)

    def process(self, batch: list):
        routed: Dict[str, list] = {name: [] for name in self.outputs}
        targets = [routed[name] for name in self.predicates]
        fallback = routed.get(self.otherwise) if self.otherwise else None
        deads: List[DeadLetter] = []
        matches = self._matches
        for event in batch:
            try:
                hits = matches(event)
            except Exception as exc:  # noqa: BLE001 - one bad event, not the batch
                deads.append(DeadLetter(event, self.step_id, describe(exc)))
                continue
            self._send(event, hits, targets, fallback)
        return routed, deads

    @staticmethod
    def _send(event, hit, targets, fallback) -> None:
        """``hit``: the index of the first output whose predicate holds, or -1."""
        if hit >= 0:
            targets[hit].append(event)
        elif fallback is not None:
            fallback.append(event)


class Branch(Route):
    first_match_only = False

    @staticmethod
    def _send(event, hits, targets, fallback) -> None:
        """``hits``: per output, whether its predicate holds (every predicate is evaluated)."""
        sent = False
        for hit, target in zip(hits, targets, strict=True):
            if hit:
                target.append(event)
                sent = True
        if not sent and fallback is not None:
            fallback.append(event)
