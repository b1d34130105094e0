"""Per-event fallback: process a batch one event at a time, dead-lettering failures."""

from __future__ import annotations

from typing import Callable, List, Tuple, Type

from engine.records import DeadLetter


def one_by_one(step_id: str, batch: list, fn: Callable[[dict], object],
               catch: Type[BaseException] = Exception) -> Tuple[List, List[DeadLetter]]:
    """Apply ``fn`` to each event; a raised ``catch`` error dead-letters that event only
    (any other error is a bug and stops the flow).

    ``fn`` returns the output event, or ``None`` to drop the event.
    """
    oks: list = []
    deads: List[DeadLetter] = []
    for event in batch:
        try:
            out = fn(event)
        except catch as exc:  # noqa: BLE001 - by default any failure of one event is that event's
            deads.append(DeadLetter(event, step_id, describe(exc)))
            continue
        if out is not None:
            oks.append(out)
    return oks, deads


def describe(exc: BaseException) -> str:
    """One line: the error type when the message alone would be unclear."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, (ValueError, TypeError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
