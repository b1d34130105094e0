"""JSON decoding that parses a Kafka Connect envelope's schema once, not once per message.

Kafka Connect's JsonConverter (``schemas.enable=true``, Debezium's default) writes every
message as ``{"schema":S,"payload":P}`` where S, the same text for every message of a table,
is 75-80% of the bytes. ``EnvelopeDecoder.loads`` remembers the exact bytes in front of the
payload; a message that starts with remembered bytes gets only its payload parsed and shares
the already-parsed schema (treat it as read-only). Anything else, or any doubt, is an ordinary
full parse, so the result is always what ``orjson.loads`` would give.

A schema is remembered only once it has passed ``engine.jsontext.check`` (nesting, numbers),
so the decode step checks only the payload of a message that shares it.

A value may end with a line end after its closing brace: a JSON Lines file's lines come with
theirs (``LineBatch``, engine/connectors/files.py), and JSON reads it as white space. Without
this, the technical files of the TMS simulator were parsed whole, schema and all, each message
with a schema of its own (and the debezium step compiled each one's row schema again).
"""

from __future__ import annotations

from itertools import repeat
from operator import getitem
from typing import List, Optional, Tuple

import orjson

from engine.jsontext import MAX_DEPTH, check

_HEAD = b'{"schema":'
_SEPARATOR = b',"payload":'
_KEEP = 8  # distinct schemas remembered (a table's schema changes rarely)
_TRIES = 4  # candidate ends of the schema's text tried (each one is a parse)
_BYTES = {bytes}
_WORTH_IT = 256  # shorter schemas are parsed in full: the saving would not pay for the check
_LINE_END = b"}\n"  # a JSON Lines file's line (the usual ending besides a bare '}')
_BRACE = {ord("}")}


def _tail(value: bytes) -> int:
    """The bytes after an envelope's payload: its closing brace and line end, if any (0: the
    value does not end with the brace, so it is no envelope to take apart)."""
    if value.endswith(b"}"):
        return 1
    if value.endswith(_LINE_END):
        return 2
    return 3 if value.endswith(b"}\r\n") else 0


class EnvelopeDecoder:
    """``orjson.loads`` with the Connect envelope's schema parsed once per distinct text."""

    def __init__(self) -> None:
        self._known: List[Tuple[bytes, object]] = []  # (bytes before the payload, parsed schema)

    def loads(self, value):
        return self.load(value)[0]

    def load(self, value) -> Tuple[object, Optional[memoryview]]:
        """(the value's JSON, the payload's bytes when it is an envelope sharing a remembered
        schema, else None)."""
        tail = _tail(value) if type(value) is bytes and value.startswith(_HEAD) else 0
        if tail:
            for prefix, schema in self._known:
                if value.startswith(prefix):
                    payload = memoryview(value)[len(prefix):-tail]
                    try:
                        return {"schema": schema, "payload": orjson.loads(payload)}, payload
                    except orjson.JSONDecodeError:
                        break  # e.g. a key after the payload: let the full parse decide
            event = orjson.loads(value)
            self._learn(value, event)
            return event, None
        return orjson.loads(value), None

    def load_all(self, values, joined: Optional[bytes] = None) -> Tuple[list, list, list, list]:
        """The JSON of every value; the values to check whole; the payloads of the envelopes
        that share a remembered (already checked) schema, one level deeper than their event;
        the texts of both (the whole value, or the payload's bytes). ``joined``: the values'
        bytes joined, when the caller has them."""
        try:  # the usual batch, plain JSON: no envelope anywhere in its text, one C loop
            plain = (not any(map(bytes.__contains__, values, repeat(_HEAD))) if joined is None
                     else _HEAD not in joined)  # a join would copy a batch of envelopes for nothing
        except TypeError:  # a value given as str
            plain = False
        if plain:
            events = list(map(orjson.loads, values))
            return events, events, [], values
        if self._known and values:
            usual = self._one_schema(values)
            if usual is not None:
                return usual
        events = []
        add = events.append
        shared = None  # (index, payload bytes) of the envelopes sharing a remembered schema
        newest = self._known[0] if self._known else None
        for value in values:
            if type(value) is bytes and value.startswith(_HEAD):
                event, payload = self.load(value)
                if payload is not None:
                    shared = shared or []
                    shared.append((len(events), payload))
                add(event)
                if len(events) == 1 < len(values) and self._known and self._known[0] is not newest:
                    # the first value taught a schema (a topic's first batch): the rest, as the usual batch
                    rest = self._one_schema(values[1:])
                    if rest is not None:
                        shared = list(zip(range(1, len(values)), rest[3], strict=False))  # the first: whole
                        events += rest[0]
                        break
            else:
                add(orjson.loads(value))
        if shared is None:
            return events, events, [], values
        if len(shared) == len(events):  # the usual case: one table, one schema
            return events, [], [e["payload"] for e in events], [payload for _, payload in shared]
        texts = list(values)
        for index, payload in shared:
            texts[index] = payload
        skip = {index for index, _ in shared}
        return (events, [e for index, e in enumerate(events) if index not in skip],
                [events[index]["payload"] for index, _ in shared], texts)

    def _one_schema(self, values) -> Optional[Tuple[list, list, list, list]]:
        """``load_all`` of the usual batch, one table's envelopes all sharing the newest
        remembered schema, in a few C loops instead of ``load`` per value; None for any other
        batch (the caller then takes each value's way, with the same result)."""
        found = self._payload_texts(values)
        if found is None:
            return None
        schema, texts, _ = found
        try:
            payloads = list(map(orjson.loads, texts))
        except orjson.JSONDecodeError:
            return None  # e.g. a key after the payload: load's full parse decides
        return [{"schema": schema, "payload": p} for p in payloads], [], payloads, texts

    def usual(self, values, limit: int) -> Optional[Tuple[list, list, bytes]]:
        """``_one_schema`` for the decode step: (events, payloads, the payloads' texts joined
        with ``\\n``), or None, also when a value may be longer than ``limit`` bytes."""
        found = self._payload_texts(values) if self._known else None
        if found is None:
            return None
        schema, texts, around = found
        joined = b"\n".join(texts)
        if around + len(joined) > limit:  # no value is longer than its payload and what is around it
            return None
        try:
            payloads = list(map(orjson.loads, texts))
        except orjson.JSONDecodeError:
            return None
        return [{"schema": schema, "payload": p} for p in payloads], payloads, joined

    def _payload_texts(self, values) -> Optional[Tuple[object, list, int]]:
        """(the newest remembered schema, the payloads' bytes, the bytes around a payload) when
        every value is an envelope sharing that schema, else None."""
        prefix, schema = self._known[0]
        # load's test (the first remembered prefix a value starts with wins), as C loops
        if set(map(type, values)) != _BYTES or not all(map(bytes.startswith, values, repeat(prefix))):
            return None
        if set(map(getitem, values, repeat(-1))) == _BRACE:  # each last byte: cheaper than endswith's arguments
            tail = 1
        elif all(map(bytes.endswith, values, repeat(_LINE_END))):  # a file's lines
            tail = 2
        else:  # (a file's last line without its line end, '\r\n', ...: each value's way)
            return None
        # copies of the payloads: cheaper than two memoryviews each, and a join copies them anyway
        return schema, list(map(getitem, values, repeat(slice(len(prefix), -tail)))), len(prefix) + tail

    def _learn(self, value: bytes, event) -> None:
        if type(event) is not dict or list(event) != ["schema", "payload"]:
            return
        end = value.find(_SEPARATOR, len(_HEAD))
        for _ in range(_TRIES):
            if end == -1 or _parses_to(value[len(_HEAD):end], event["schema"]):
                break
            end = value.find(_SEPARATOR, end + 1)  # that one was inside the schema's text
        else:
            return  # a schema with many 'payload' keys: not worth a parse per candidate
        prefix = value[:end + len(_SEPARATOR)]
        if end >= _WORTH_IT and all(prefix != known for known, _ in self._known) \
                and check(event["schema"], MAX_DEPTH - 1) is None:
            self._known.insert(0, (prefix, event["schema"]))
            del self._known[_KEEP:]


def _parses_to(text: bytes, expected) -> bool:
    try:
        return orjson.loads(text) == expected
    except (orjson.JSONDecodeError, RecursionError):
        return False
