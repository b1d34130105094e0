"""JSON decoding that parses a Kafka Connect envelope's schema once, not once per message.

Kafka Connect's JsonConverter (``schemas.enable=true``, Debezium's default) writes every
message as ``{"schema":S,"payload":P}`` where S, the same text for every message of a table,
is 75-80% of the bytes. ``EnvelopeDecoder.loads`` remembers the exact bytes in front of the
payload; a message that starts with remembered bytes gets only its payload parsed and shares
the already-parsed schema (treat it as read-only). Anything else, or any doubt, is an ordinary
full parse, so the result is always what ``orjson.loads`` would give.
"""

from __future__ import annotations

from typing import List, Tuple

import orjson

_HEAD = b'{"schema":'
_SEPARATOR = b',"payload":'
_KEEP = 8  # distinct schemas remembered (a table's schema changes rarely)
_WORTH_IT = 256  # shorter schemas are parsed in full: the saving would not pay for the check


class EnvelopeDecoder:
    """``orjson.loads`` with the Connect envelope's schema parsed once per distinct text."""

    def __init__(self) -> None:
        self._known: List[Tuple[bytes, object]] = []  # (bytes before the payload, parsed schema)

    def loads(self, value):
        if type(value) is bytes and value.startswith(_HEAD) and value.endswith(b"}"):
            for prefix, schema in self._known:
                if value.startswith(prefix):
                    try:
                        return {"schema": schema, "payload": orjson.loads(memoryview(value)[len(prefix):-1])}
                    except orjson.JSONDecodeError:
                        break  # e.g. a key after the payload: let the full parse decide
            event = orjson.loads(value)
            self._learn(value, event)
            return event
        return orjson.loads(value)

    def _learn(self, value: bytes, event) -> None:
        if type(event) is not dict or list(event) != ["schema", "payload"]:
            return
        end = value.find(_SEPARATOR, len(_HEAD))
        while end != -1 and not _parses_to(value[len(_HEAD):end], event["schema"]):
            end = value.find(_SEPARATOR, end + 1)  # that one was inside the schema's text
        prefix = value[:end + len(_SEPARATOR)]
        if end >= _WORTH_IT and all(prefix != known for known, _ in self._known):
            self._known.insert(0, (prefix, event["schema"]))
            del self._known[_KEEP:]


def _parses_to(text: bytes, expected) -> bool:
    try:
        return orjson.loads(text) == expected
    except orjson.JSONDecodeError:
        return False
