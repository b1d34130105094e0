"""The error boundary every per-event piece of work runs inside: one event never stops a flow.

The compiler wraps each stateless step's ``process``, each source's decode and each sink's
encoding with ``guard``. The contract:

1. ``process(batch) -> (oks, dead_letters)`` is called on the whole batch first, so clean
   data pays one ``try`` per batch and nothing per event.
2. If it raises (any ``Exception``: a bug, a ``RecursionError``, an unforeseen input), the
   batch is processed again one item at a time; an item whose own call raises becomes a dead
   letter carrying that item as it arrived, the step id and a one-line reason.
3. The work is pure by contract (no state, no side effect), so doing it twice is safe: what
   the failed whole-batch call produced is dropped, never emitted.
4. Every dead letter made from an item of the batch, by the work itself or by step 2, gets
   the event as the source decoded it and its origin (``engine.lineage``); the events go on
   as a ``lineage.Batch`` knowing their source rows (unless ``keep_lineage`` is off: a
   sink's encoded items and a keyed step's groups need none).

Keyed, stateful steps have their own boundary (``engine/compiler/keyed.py``): their work is
not pure and cannot simply be redone.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Callable, Iterable, List, Optional, Tuple

from engine import lineage
from engine.operators.dead import describe
from engine.records import DeadLetter, RawBatch

# (one item as a batch of its own, what its dead letter carries, its origin)
Piece = Tuple[Any, Any, Optional[str]]


def events(batch: list) -> Iterable[Piece]:
    """The pieces of a batch of events: each event alone; its dead letter carries it."""
    return (([event], event, None) for event in batch)


def raw_values(raw: RawBatch) -> Iterable[Piece]:
    """The pieces of a source's raw batch: each value alone, with its exact position."""
    for index in range(len(raw.values)):
        one = raw.single(index)  # its value as the dead letter shows it (a LineBatch's without line end)
        value = one.values[0]
        text = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
        yield one, text, raw.position(index)


def guard(step_id: str, process: Callable, pieces: Callable[[Any], Iterable[Piece]] = events,
          keep_lineage: bool = True, expands: bool = False, trace: bool = True) -> Callable:
    """``process`` that never raises for its input (see the module's contract). ``expands``:
    the work may make any number of events of one (``engine.lineage``, rule 4). ``trace``
    off: rule 4 of the contract is left to the caller (a step run inside another's boundary)."""

    def guarded(batch):
        try:
            oks, deads = process(batch)
        except Exception:  # noqa: BLE001 - redone one item at a time below
            debug(step_id)
            oks, deads = _one_at_a_time(step_id, process, pieces(batch))
        if keep_lineage:
            oks = lineage.made(oks, batch, deads, process, pieces, expands)
        if deads and trace:
            lineage.trace_dead_letters(deads, batch)
        return oks, deads

    return guarded


def _one_at_a_time(step_id: str, process: Callable, pieces: Iterable[Piece]):
    oks: Any = None
    deads: List[DeadLetter] = []
    for one, original, origin in pieces:
        try:
            out, dead = process(one)
        except Exception as exc:  # noqa: BLE001 - this item's failure is this item's
            debug(step_id)
            deads.append(DeadLetter(original, step_id, describe(exc), origin=origin))
            continue
        oks = _joined(oks, out)
        deads += dead
    return (oks if oks is not None else []), deads


def _joined(oks: Any, out: Any) -> Any:
    """Routing steps emit ``{output: events}``; the others a list."""
    if oks is None:  # a copy: ``out`` may be a lineage.Batch of this one item
        return {name: list(items) for name, items in out.items()} if isinstance(out, dict) else list(out)
    if isinstance(out, dict):
        for name, items in out.items():
            oks.setdefault(name, []).extend(items)
        return oks
    oks.extend(out)
    return oks


def debug(step_id: str) -> None:
    """With VELOCITY_FLOW_DEBUG set, the full traceback of a caught failure (for bug reports)."""
    if os.environ.get("VELOCITY_FLOW_DEBUG"):
        print(f"velocity-flow: step '{step_id}' caught:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
