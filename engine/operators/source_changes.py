"""A source's Debezium envelopes parsed and converted one message at a time, for a ``debezium``
step that alone reads the source (the compiler's choice: engine/compiler/fused_source.py).

Run as two steps, the source's decode parses a whole batch (~100 messages: their payloads'
objects are ~0.5-1 MB) and checks it, and then the ``debezium`` step walks the batch again,
when the first messages' objects have left the core's 1 MiB cache. Here each payload is parsed,
checked and converted in turn, and its envelope objects are freed while still in cache: on the
domain flow's backlog the same instructions, and a sixth fewer cache misses (simulated) a
message (docs/performance-log.md, 2026-12-05 12:10).

Only the batch the decode step takes its fastest way (``Decode.usual_payloads``) goes here, and
only while every message of it is the usual one: a payload that does not parse, is no object,
fails the decode step's checks, or that the step's ``decode`` refuses makes :func:`changes_of`
give None (or raise), and the caller runs both steps over the batch as they always run, which
make the same events or say why not, each its own dead letters.
"""

from __future__ import annotations

from typing import Callable, Optional

import orjson

from engine.jsontext import MAX_DEPTH, payload_passes


def changes_of(schema: object, texts: list, convert: Callable) -> Optional[list]:
    """``convert(event, True)`` of each payload text's event (``{"schema": schema, "payload":
    ...}``, as the decode step makes it), or None when a payload is not an object the decode
    step's checks pass; ``convert``'s failure (or a text that does not parse) raises."""
    out: list = []
    add = out.append
    loads = orjson.loads
    for text in texts:
        payload = loads(text)
        if type(payload) is not dict or not payload_passes(payload, MAX_DEPTH - 1):
            return None
        add(convert({"schema": schema, "payload": payload}, True))
    return out
