"""Decoding raw source values (JSON Lines, Kafka messages) into events, the first step of every source.

What is read and what is dead-lettered (docs/connectors.md, *Decoding*; limits in
``engine.jsontext``):

* a JSON object becomes an event; integers of any size are exact;
* a value of more than ``MAX_VALUE_BYTES``, text that is not JSON (NaN and Infinity are not),
  any JSON that is not an object (``null``, an array, a string, a number, a boolean) and an
  object nested deeper than ``MAX_DEPTH`` levels are dead letters, with the reason, the
  position and the text (its first ``MAX_DEAD_TEXT`` characters when longer);
* a Kafka tombstone (a message without a value: ``None`` here) carries no event and is
  skipped; so is a line ``null`` in a file, the tombstone of the TMS simulator's files
  (docs/tms.md). A Kafka message whose value is the text ``null`` is dead-lettered.

A batch of clean values takes one fast path: parse all, then one check of the whole batch.
Only a batch with something wrong is decoded again value by value.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, cast

import orjson

from engine import lineage
from engine.jsontext import (
    DEEP,
    MAX_DEPTH,
    MAX_VALUE_BYTES,
    JsonTextError,
    check,
    check_batch,
    check_payloads,
    dead_text,
    exact,
    long_fraction,
    malformed,
    too_deep,
)
from engine.operators.connect_json import EnvelopeDecoder
from engine.operators.dead import describe
from engine.operators.jsonschemas import EventSchema
from engine.operators.validate import split_valid
from engine.records import META_FIELD, DeadLetter, RawBatch

FORMATS = ("json", "string", "bytes")
_NULL = type(None)
_ENVELOPE = b'{"schema":'  # how a Kafka Connect envelope starts (engine/operators/connect_json.py)
_KINDS = {type(None): "null", list: "an array", str: "a string", int: "a number", float: "a number",
          bool: "a boolean"}


class Decode:
    """JSON objects become events; anything else is dead-lettered with its position.

    ``format: string`` (or ``bytes``) makes each value the event ``{"value": text}`` instead,
    for inputs that are not JSON. Tombstones are skipped (module docstring); per-value ``meta``
    becomes the event's ``_meta`` field.
    """

    kind = "decode"

    def __init__(self, step_id: str, schema: Optional[EventSchema] = None, format: str = "json") -> None:
        self.step_id = step_id
        self.schema = schema
        self.format = format
        self._decoder = EnvelopeDecoder()  # Debezium's schema-laden messages parse ~7x faster

    def __reduce__(self):
        # A -p N cluster pickles the lineage batches crossing its processes, which carry this step's
        # event_of (engine/lineage.py): made again from its options. (Compiled with mypyc, a
        # native class cannot be unpickled field by field: its __new__ runs __init__.)
        return Decode, (self.step_id, self.schema, self.format)

    def process(self, raw: RawBatch):
        """(events, dead letters); the events are a ``lineage.Batch`` knowing each one's value."""
        if self.format != "json":
            raw = _without_line_ends(raw)
            return self._validated(raw, *self._wrapped(raw))
        values = raw.values
        # A batch of Kafka Connect envelopes is not joined: only plain JSON's number check reads
        # the batch's text at once, and Debezium's envelopes (schemas inline) make ~1-2 MB per
        # batch, a block malloc maps afresh and the kernel zero-fills page by page at every batch
        # (engine/runtime/heap.py): ~1.6 page faults per message of the domain flow
        envelopes = bool(values) and type(values[0]) is bytes and values[0].startswith(_ENVELOPE)
        if envelopes:
            try:
                usual = self._decoder.usual(values, MAX_VALUE_BYTES)
            except Exception:  # noqa: BLE001 - load_all below meets it again, and decides
                usual = None
            if usual is not None:
                return self._shared(raw, *usual)
        try:  # the batch's text at once: for the number check, and a short one needs no value's length
            joined: Optional[bytes] = None if envelopes else b"".join(cast(List[bytes], values))
        except TypeError:  # a None (tombstone) or a text value
            joined = None
        if values and (None not in values if joined is None else True) and (
                (joined is not None and len(joined) <= MAX_VALUE_BYTES)
                or max(map(len, cast(List[bytes], values))) <= MAX_VALUE_BYTES):
            events: Optional[list]
            try:
                if joined is not None:
                    # a batch that does not start with a Kafka Connect envelope: plain JSON, as
                    # load_all reads it (any envelope later on is read whole, to the same value)
                    events = whole = list(map(orjson.loads, cast(List[bytes], values)))
                    payloads: list = []
                    texts: Sequence = values
                else:
                    events, whole, payloads, texts = self._decoder.load_all(values, joined)
            except Exception:  # noqa: BLE001 - a value that does not parse: found below, with the reason
                events = None
            kinds = [] if events is None else list(map(type, events))  # counted: ~75 instructions
            dicts = kinds.count(dict)  # per event fewer than a set of them
            with_nulls = 0 < dicts < len(kinds) and dicts + kinds.count(_NULL) == len(kinds)
            if ((dicts and dicts == len(kinds)) or (with_nulls and _null_is_tombstone(raw))) \
                    and check_batch(whole, texts, joined=joined if texts is values else None) is None \
                    and check_batch(payloads, (), MAX_DEPTH - 1) is None:
                assert events is not None  # kinds holds their types
                kept: Sequence[int] = range(len(events))
                if raw.meta is not None:
                    for event, meta in zip(events, raw.meta, strict=False):
                        event[META_FIELD] = meta
                elif with_nulls:
                    kept = [i for i, e in enumerate(events) if e is not None]
                    events = [events[i] for i in kept]
                return self._validated(raw, events, [], kept)
            if events is None:
                raw = _without_line_ends(raw)
                return self._validated(raw, *self._tolerant(raw))
        raw = _without_line_ends(raw)
        return self._validated(raw, *self._one_by_one(raw))

    def _shared(self, raw: RawBatch, events: list, payloads: list, joined: bytes):
        """The usual batch of one table's envelopes (``EnvelopeDecoder.usual``), all objects:
        the fast path's checks of the payloads, as ``load_all``'s payloads get them."""
        if check_payloads(payloads, joined, MAX_DEPTH - 1) is None:
            if raw.meta is not None:
                for event, meta in zip(events, raw.meta, strict=False):
                    event[META_FIELD] = meta
            return self._validated(raw, events, [], range(len(events)))
        raw = _without_line_ends(raw)
        return self._validated(raw, *self._one_by_one(raw))

    def _tolerant(self, raw: RawBatch):
        """A batch in which some value does not parse: parse each value, check the objects
        together (``check_batch``, as the fast path does), and give only the rest the careful
        value-by-value treatment. A few bad lines in every batch (a dirty feed) then cost
        little more than clean ones; anything unusual falls back to ``_one_by_one``."""
        values = cast(List[bytes], raw.values)  # called from the fast path: no value is None
        good: list = []
        good_at: List[int] = []
        odd: List[int] = []
        loads = orjson.loads
        for index, value in enumerate(values):
            try:
                event = loads(value)
            except Exception:  # noqa: BLE001 - its reason is found by _event below
                odd.append(index)
                continue
            if type(event) is dict:
                good.append(event)
                good_at.append(index)
            else:
                odd.append(index)
        if not good or check_batch(good, [values[i] for i in good_at]) is not None:
            return self._one_by_one(raw)
        deads: List[DeadLetter] = []
        rescued = []  # (index, event) of odd values that are events after all (a file's null: none)
        for index in odd:
            try:
                event = self._event(values[index], raw)
            except JsonTextError as exc:
                deads.append(self._dead(raw, index, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - whatever a value does, it is that value's dead letter
                deads.append(self._dead(raw, index, describe(exc)))
                continue
            if event is not None:
                rescued.append((index, event))
        if rescued:
            placed = sorted([*zip(good_at, good, strict=False), *rescued], key=_first)
            good_at, good = [i for i, _ in placed], [e for _, e in placed]
        if raw.meta is not None:
            for index, event in zip(good_at, good, strict=False):
                event[META_FIELD] = raw.meta[index]
        return good, deads, good_at

    def event_of(self, raw: RawBatch, index: int):
        """The event value ``index`` of ``raw`` decodes to (a dead letter's source event)."""
        value = raw.values[index]
        if getattr(raw, "line_ends", False):
            value = value.rstrip(b"\r\n")  # type: ignore[union-attr]
        event: Optional[dict]
        if self.format != "json":
            event = self._wrap(value)
        else:
            event = self._event(value, raw)
        return None if event is None else self._with_meta(event, raw, index)

    def _wrap(self, value) -> dict:
        """The event of a value read with ``format: string`` or ``bytes``."""
        as_text = self.format == "string" and type(value) is not str
        return {"value": value.decode("utf-8", "replace") if as_text else value}

    def _wrapped(self, raw: RawBatch):
        events: list = []
        kept: List[int] = []
        deads: List[DeadLetter] = []
        values: List[Any] = raw.values  # (not bytes: compiled, len() of one would skip a CutLine's own)
        for index, value in enumerate(values):
            if value is None:
                continue
            if len(value) > MAX_VALUE_BYTES:
                deads.append(self._dead(raw, index, _too_long(value)))
                continue
            events.append(self._with_meta(self._wrap(value), raw, index))
            kept.append(index)
        return events, deads, kept

    def _one_by_one(self, raw: RawBatch):
        events: list = []
        kept: List[int] = []
        deads: List[DeadLetter] = []
        for index, value in enumerate(raw.values):
            if value is None:  # a Kafka tombstone
                continue
            event = error = None
            try:
                event = self._event(value, raw)
            except JsonTextError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - whatever a value does, it is that value's dead letter
                error = describe(exc)
            if error is not None:
                deads.append(self._dead(raw, index, error))
            elif event is not None:
                events.append(self._with_meta(event, raw, index))
                kept.append(index)
        return events, deads, kept

    def _event(self, value, raw: RawBatch) -> Optional[dict]:
        """The event of one value (None: a tombstone), or JsonTextError saying why there is none."""
        if len(value) > MAX_VALUE_BYTES:
            raise JsonTextError(_too_long(value))
        try:
            event, shared = self._decoder.load(value)  # shared: the payload's bytes, or None
        except orjson.JSONDecodeError as exc:
            raise JsonTextError(malformed(exc)) from None
        if event is None and _null_is_tombstone(raw):
            return None
        if type(event) is not dict:
            raise JsonTextError(f"expected a JSON object, got {_KINDS.get(type(event), type(event).__name__)}")
        problem = check(event) if shared is None else check(event["payload"], MAX_DEPTH - 1)  # every value: one event
        if problem is None and not long_fraction(value if shared is None else shared):
            return event
        if problem is DEEP:
            raise JsonTextError(too_deep(MAX_DEPTH))
        return exact(value)  # an integer beyond 64 bits or a long fraction: read again, exactly

    @staticmethod
    def _with_meta(event: dict, raw: RawBatch, index: int) -> dict:
        if raw.meta is not None:
            event[META_FIELD] = raw.meta[index]
        return event

    def _dead(self, raw: RawBatch, index: int, error: str) -> DeadLetter:
        return DeadLetter(dead_text(raw.values[index]), self.step_id, error, origin=raw.position(index))

    def _validated(self, raw: RawBatch, events: list, deads: list, kept):
        """``kept[i]``: the index in ``raw`` of ``events[i]``."""
        if self.schema is not None:
            oks, invalid = split_valid(self.step_id, self.schema, events)
            if invalid:
                where = {id(event): kept[i] for i, event in enumerate(events)}
                for dead in invalid:
                    dead.origin = raw.position(where[id(dead.event)])
                kept = [where[id(event)] for event in oks]
                events, deads = oks, deads + invalid
        return lineage.decoded(events, raw, kept, self.event_of), deads


def _first(pair):
    return pair[0]


def _without_line_ends(raw: RawBatch) -> RawBatch:
    """``raw`` with the line ends of a file's lines taken off (``LineBatch`` of
    engine/connectors/files.py): the values the paths that show or measure them expect."""
    if not getattr(raw, "line_ends", False):
        return raw
    return RawBatch([v.rstrip(b"\r\n") for v in cast(List[bytes], raw.values)], raw.origin, raw.first_offset,
                    raw.offsets, raw.meta)


def _null_is_tombstone(raw: RawBatch) -> bool:
    """In a file (values positioned by line), a line ``null`` stands for a Kafka tombstone, as
    in the TMS simulator's technical files (docs/tms.md); a Kafka message carries a tombstone
    as no value at all, so there the text ``null`` is a value that is not an object."""
    return raw.offsets is None and raw.meta is None


def _too_long(value) -> str:
    return f"a value of {len(value)} bytes, more than the {MAX_VALUE_BYTES // (1024 * 1024)} MiB a value may have"
