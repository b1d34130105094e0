"""Where each event of a batch came from, worked out only when a dead letter needs it.

A dead letter carries the input as it arrived at the source and its position (``path:line``,
``topic[partition]@offset``), whichever step or sink produced it. Tagging every event with
its origin would cost on every clean event; instead each batch a stateless step emits is a
``Batch`` that remembers the batch it was made from and the (pure) work that made it, and the
way back to the source is found only for a batch that has a dead letter:

1. an event that is the very object of the parent batch (``filter``, ``route``, ``validate``
   pass events on) is found by identity;
2. otherwise the step is pure by contract (``engine.operators.boundary``), so it is replayed
   one parent item at a time to learn which outputs each item made (``cast``, ``map``,
   ``unnest``). That costs one more run of the step over that batch, and only for batches
   with a dead letter downstream. A source's decode says itself which value each event came
   from (``decoded``), so a batch with bad values costs no second decode.

The way back ends at a source's raw batch (the event then is the decoded, not yet cast
event, and the origin the raw value's position) or at a batch that is not a ``Batch``: the
output of a keyed step, which regroups events by key. There the event is what the keyed step
emitted and the origin is its ``_meta`` (Kafka sources with ``metadata: true``), if any.

A batch keeps its ancestors alive until it is dropped: a source's batch lives until the
last stateless step after it is done with it, never in keyed state (grouping does not keep
``Batch`` objects) nor in a sink's buffer (encoded items are plain lists).
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

from engine.records import DeadLetter, RawBatch, origin_of


class Batch(list):
    """A step's output events, with the batch they were made from and how."""

    __slots__ = ("parent", "process", "pieces", "output", "_back")

    def parent_index(self, index: int) -> Optional[int]:
        """The index in ``parent`` of the item ``self[index]`` was made from (None: unknown)."""
        if self._back is None:
            self._back = _backs(self)
        return self._back[index] if index < len(self._back) else None


def decoded(events: list, raw: RawBatch, kept: Sequence[int]) -> Batch:
    """A source's decoded ``events``: ``events[i]`` came from ``raw.values[kept[i]]``. Only the
    positions of the values are kept, not their bytes."""
    batch = Batch(events)
    batch.parent = RawBatch([], raw.origin, raw.first_offset, raw.offsets)
    batch.process = batch.pieces = batch.output = None
    batch._back = kept
    return batch


def made(oks: Any, parent: Any, process: Callable, pieces: Callable) -> Any:
    """``oks`` (a list, or ``{output: list}`` from a routing step) as batches made from ``parent``."""
    if type(oks) is Batch and getattr(oks, "parent", None) is not None:  # it knows its lineage (a source's decode)
        return oks
    if isinstance(oks, dict):
        return {name: _batch(items, parent, process, pieces, name) for name, items in oks.items()}
    return _batch(oks, parent, process, pieces, None)


def _batch(items: list, parent: Any, process: Callable, pieces: Callable, output: Optional[str]) -> Batch:
    batch = Batch(items)
    if isinstance(parent, RawBatch) and len(items) == len(parent.values):
        # decode makes at most one event per value: all there means in order; the values
        # themselves are not needed any more
        parent = RawBatch([], parent.origin, parent.first_offset, parent.offsets)
        batch._back = range(len(items))
    else:
        batch._back = None
    batch.parent, batch.process, batch.pieces, batch.output = parent, process, pieces, output
    return batch


def trace(batch: Any, index: int) -> Tuple[Any, Optional[str]]:
    """(the event as the source decoded it, its origin) of ``batch[index]``."""
    event = batch[index]
    while isinstance(batch, Batch):
        parent_index = batch.parent_index(index)
        if parent_index is None:
            break
        if isinstance(batch.parent, RawBatch):
            return event, batch.parent.position(parent_index)
        batch, index = batch.parent, parent_index
        event = batch[index]
    return event, origin_of(event)


def trace_dead_letters(deads: List[DeadLetter], batch: Any) -> None:
    """Give each dead letter made from an item of ``batch`` that item's source event and origin."""
    if isinstance(batch, RawBatch) or not any(d.origin is None for d in deads):
        return
    where = {id(item): index for index, item in enumerate(batch)}
    for dead in deads:
        index = where.get(id(dead.event))
        if dead.origin is None and index is not None:
            dead.event, dead.origin = trace(batch, index)


def _backs(batch: Batch) -> List[Optional[int]]:
    parent = batch.parent
    if not isinstance(parent, RawBatch):
        where = {id(item): index for index, item in enumerate(parent)}
        found = [where.get(id(item)) for item in batch]
        if None not in found:
            return found
    back: List[Optional[int]] = []
    for index, (one, _, _) in enumerate(batch.pieces(parent)):
        back += [index] * _count(batch.process, one, batch.output)
    return back if len(back) == len(batch) else [None] * len(batch)


def _count(process: Callable, one: Any, output: Optional[str]) -> int:
    try:
        oks, _ = process(one)
    except Exception:  # noqa: BLE001 - an item whose work fails made no event
        return 0
    if output is not None:
        return len(oks.get(output) or ())
    return len(oks)

