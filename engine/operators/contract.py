"""What every operator is, for binding and the compiler (the keyed contract, with its call
order, is in engine/operators/keyed.py).

An operator is built once per step as ``cls(step_id, config, input_fields)``: ``config`` is
the step's YAML value (options declared in engine/catalog/operators.py), ``input_fields`` the
known fields of what it reads (engine/operators/fields.py). A configuration mistake raises
``engine.errors.ConfigError`` from the constructor, located by its path inside ``config``;
nothing else may raise there. After construction it exposes ``output_fields``, and ``kind``
tells the compiler how to wire it:

- ``"stateless"``: ``process(batch) -> (events, dead letters)``, pure, once per batch, inside
  the error boundary (engine/operators/boundary.py); ``expands = True`` when one event may
  become several (the boundary then traces dead letters differently); optionally
  ``process_owned(batch)``, the same result but free to change the input events' top-level
  fields, which the compiler calls only for events no one else holds, and the declarations
  that tell it so: ``fresh_output = True`` (each event given is a new dict; what it nests may
  be shared) or ``passes_input = True`` (it gives some of its input events on); with
  ``changes_nested = True`` its ``process_owned`` may also change objects nested in its input
  events, and is called only for events owned whole (a source's, which share only a Connect
  envelope's ``schema`` and Kafka's ``_meta``: ``records.SHARED``), or it offers
  ``process_owned_whole(batch)`` for those as well: engine/compiler/ownership.py. An event it
  dead-letters is left as it came (every change computed first, then made);
- ``"route"``: ``outputs`` (the named outputs) and ``process(batch) -> ({output: events},
  dead letters)``;
- ``"union"``: no processing, the compiler merges its inputs;
- ``"keyed"``: a :class:`engine.operators.keyed.KeyedStep`; optionally ``group_events_owned``,
  ``group_events`` free to change the top-level fields of events no one else holds;
- ``"join"``: a keyed step with a second input, its ``table`` (engine/operators/joins/): built
  as ``cls(step_id, config, input_fields, sides)`` where ``sides`` maps each option that names
  an input (``table``) to that input's known fields.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Protocol, Tuple

from engine.operators.fields import Fields
from engine.records import DeadLetter

Kind = Literal["stateless", "route", "union", "keyed", "join"]
Processed = Tuple[List[Any], List[DeadLetter]]


class Operator(Protocol):
    step_id: str
    kind: str  # one of Kind
    output_fields: Fields


class StatelessOperator(Operator, Protocol):
    def process(self, batch: List[Any]) -> Processed: ...


class RoutingOperator(Operator, Protocol):
    outputs: List[str]

    def process(self, batch: List[Any]) -> Tuple[Dict[str, List[Any]], List[DeadLetter]]: ...
