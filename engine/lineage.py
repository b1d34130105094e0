"""Where each event of a batch came from, so that any step's dead letter can say it.

A dead letter carries the input as it arrived at the source and its position (``path:line``,
``topic[partition]@offset``), whichever stateless step or sink produced it. Every batch a
stateless step emits is a ``Batch``: its events, the source's raw batch they all came from
(``Root``) and, per event, the index of its raw value (``rows``). A dead letter then finds
its value's position, and the event as the source decoded it by decoding that one value
again (pure, and only for dead letters).

The source's decoded events are not kept (a step may change its own copy, and keeping them
alive while the batch goes through the next steps costs memory): the raw bytes are. ``rows`` is
worked out as the batch goes, at nearly no cost on clean data:

1. a step that made as many events as it got, with no dead letter, made one from each
   (``cast``, ``map``, a ``filter`` that kept all): the same ``rows``, shared;
2. a step that made one event per input except its dead letters: ``rows`` without theirs;
3. a step that passed on some of its input objects (``filter``, ``route``): by identity,
   only when a dead letter asks (the batch keeps its input, which holds the same events);
4. otherwise (``unnest``, declared with ``expands``: any number per input; a step that
   dropped events it replaced) the step, pure by contract, is run again one input at a
   time to count what each made, also only when a dead letter asks.

The way back ends at a batch that is not a ``Batch``: the output of a keyed step, which
regroups events by key. Dead letters past it carry their step's event and, for a Kafka
source read with ``metadata: true``, the origin in its ``_meta``. An event the keyed step's
own state refuses (late, no event time) is traced in the step's last input batches
(``engine.compiler.keyed.Recent``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union, cast

from engine.records import DeadLetter, RawBatch, origin_of

Rows = Union[Sequence[int], "_Later", None]  # a batch's rows: known, worked out when asked, or unknown


class Root:
    """A source's raw batch and ``decode(raw, index) -> event`` that made events of it."""

    __slots__ = ("raw", "decode")

    def __init__(self, raw: RawBatch, decode: Callable) -> None:
        self.decode, self.raw = decode, raw

    def source_event(self, row: int, fallback: Any) -> Any:
        """The event the source decoded from value ``row`` (decoded again: the step may have
        changed its own copy), or ``fallback`` when that fails."""
        try:
            event = self.decode(self.raw, row)
        except Exception:  # noqa: BLE001 - it decoded once; if not now, show the step's event
            return fallback
        return fallback if event is None else event


class Batch(list):
    """Events, with the raw batch they came from and each one's index in it."""

    __slots__ = ("root", "rows")
    root: Root
    rows: Rows


def decoded(events: list, raw: RawBatch, rows: Sequence[int], decode: Callable) -> Batch:
    """A source's decoded ``events``: ``events[i]`` came from ``raw.values[rows[i]]``."""
    return _batch(events, Root(raw, decode), rows)


def _batch(items: list, root: Root, rows: Rows) -> Batch:
    batch = Batch(items)
    batch.root, batch.rows = root, rows
    return batch


def made(oks: Any, parent: Any, deads: List[DeadLetter], process: Callable, pieces: Callable,
         expands: bool = False) -> Any:
    """``oks`` (a list, or ``{output: list}`` from a routing step) as batches knowing their rows.
    Call before the dead letters' events are traced (rule 2 finds them in ``parent``)."""
    if type(oks) is Batch or not isinstance(parent, Batch):
        return oks  # already traced (a source's decode), or nothing to trace from
    if isinstance(oks, dict):
        return {name: _batch(items, parent.root, _Later(parent, process, pieces, name)) for name, items in oks.items()}
    if not oks:
        return _batch(oks, parent.root, ())
    if not expands:
        if len(oks) == len(parent) and not deads:  # rule 1
            rows = parent.rows
            if type(rows) is _Later:  # not worked out yet: the parent's, position by position
                rows = _Later(parent, None, None, None)
            return _batch(oks, parent.root, rows)
        parent_rows = rows_of(parent) if deads and len(oks) + len(deads) == len(parent) else None
        if parent_rows is not None:  # rule 2 (with the parent's rows known)
            dead = {id(d.event) for d in deads}
            rows = [r for e, r in zip(parent, parent_rows, strict=False) if id(e) not in dead]
            if len(rows) == len(oks):
                return _batch(oks, parent.root, rows)
    return _batch(oks, parent.root, _Later(parent, process, pieces, None))


class _Later:
    """Rows worked out only when a dead letter asks, from the parent batch (kept: for a filter
    or a route it holds the same events anyway): by identity (rule 3), else by running the
    step again on the parent one item at a time (rule 4). With no ``process``: the parent's
    rows, position by position (rule 1 after a step whose rows are not worked out)."""

    __slots__ = ("parent", "process", "pieces", "output")

    def __init__(self, parent: Batch, process: Optional[Callable], pieces: Optional[Callable],
                 output: Optional[str]) -> None:
        self.parent, self.process, self.pieces, self.output = parent, process, pieces, output

    def work_out(self, item_ids: List[int]) -> Optional[Sequence[int]]:
        """The rows of the events whose ids are ``item_ids`` (None: unknown)."""
        parent_rows = rows_of(self.parent)
        if parent_rows is None:
            return None
        if self.process is None:
            return list(parent_rows)
        where = dict(zip(map(id, self.parent), parent_rows, strict=False))  # rule 3
        found = [where.get(i) for i in item_ids]
        if None not in found:
            return cast(List[int], found)
        counted: List[int] = []  # rule 4
        assert self.pieces is not None, "a step's rows are worked out with its pieces"
        for row, (one, _, _) in zip(parent_rows, self.pieces(self.parent), strict=False):
            counted += [row] * _count(self.process, one, self.output)
        return counted if len(counted) == len(item_ids) else None


def rows_of(batch: Batch) -> Optional[Sequence[int]]:
    """``batch.rows`` worked out (None: unknown)."""
    rows = batch.rows
    if isinstance(rows, _Later):
        rows = batch.rows = rows.work_out(list(map(id, batch)))
    return rows


def _count(process: Callable, one: Any, output: Optional[str]) -> int:
    try:
        oks, _ = process(one)
    except Exception:  # noqa: BLE001 - an item whose work fails made no event
        return 0
    return len(oks.get(output) or ()) if output is not None else len(oks)


def trace(batch: Any, index: int) -> Tuple[Any, Optional[str]]:
    """(the event as the source decoded it, its origin) of ``batch[index]``."""
    event = batch[index]
    if type(batch) is not Batch:
        return event, origin_of(event)
    rows = rows_of(batch)
    if rows is None:
        return event, origin_of(event)
    return batch.root.source_event(rows[index], event), batch.root.raw.position(rows[index])


def trace_dead_letters(deads: Iterable[DeadLetter], batch: Any) -> None:
    """Give each dead letter made from an item of ``batch`` that item's source event and origin."""
    if type(batch) is not Batch:
        return
    where = None
    for dead in deads:
        if dead.origin is None:
            where = where or dict(zip(map(id, batch), range(len(batch)), strict=False))
            index = where.get(id(dead.event))
            if index is not None:
                dead.event, dead.origin = trace(batch, index)
