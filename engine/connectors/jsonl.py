"""One JSON encoding of events shared by every sink that writes JSON (files, stdout, Kafka,
DuckDB json columns).

orjson is used because it is several times faster than ``json`` and writes ``datetime`` and
``date`` as ISO 8601 natively. Decimals are written as JSON *numbers* with their exact digits
(``orjson.Fragment``), so ``Decimal("12.30")`` stays ``12.30`` instead of going through float.

orjson refuses three kinds of value that events can hold; none may stop a sink or change
silently (issue 11):
- integers beyond 64 bits: written with their exact digits (JSON numbers have no size limit);
- values nested deeper than orjson writes (254 levels): ``Unwritable``, the event is dead-lettered;
- text with lone surrogates (not UTF-8): ``Unwritable``.
Only the events that fail the fast path pay for the slower second try.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.connectors.errors import Unwritable
from engine.json_default import json_default

_OPTIONS = orjson.OPT_NON_STR_KEYS
_LINE_OPTIONS = _OPTIONS | orjson.OPT_APPEND_NEWLINE
MAX_DEPTH = 254  # orjson's write limit
_INT64 = (-(2 ** 63), 2 ** 64 - 1)  # orjson writes unsigned 64-bit integers too


_default = json_default  # (engine/json_default.py: the schema check converts events the same way)
JSON_DEFAULT = _default  # for calls of orjson inlined elsewhere (the table sinks' row encoders)


def _dumps(value: Any, options: int) -> bytes:
    try:
        return orjson.dumps(value, default=_default, option=options)
    except orjson.JSONEncodeError as exc:
        return _second_try(value, options, str(exc))


def _second_try(value: Any, options: int, error: str) -> bytes:
    if "Recursion limit" in error:
        raise Unwritable(f"nested deeper than {MAX_DEPTH} levels (the JSON writer's limit)") from None
    if "surrogates" in error:
        raise Unwritable("text holds a lone surrogate (not valid UTF-8)") from None
    if "64-bit" in error:
        try:
            return orjson.dumps(_exact_big_ints(value, 0), default=_default, option=options)
        except orjson.JSONEncodeError as exc:  # what orjson met after the big integer (a lone surrogate)
            if "64-bit" in str(exc):
                raise Unwritable(f"cannot be written as JSON: {exc}") from None
            return _second_try(value, options, str(exc))
    raise Unwritable(f"cannot be written as JSON: {error}") from None


def _exact_big_ints(value: Any, depth: int) -> Any:
    """A copy with every integer beyond 64 bits as a JSON number of its exact digits."""
    if depth > MAX_DEPTH:
        raise Unwritable(f"nested deeper than {MAX_DEPTH} levels (the JSON writer's limit)")
    kind = type(value)
    if isinstance(value, int) and kind is not bool and not _INT64[0] <= value <= _INT64[1]:  # subclasses too
        return orjson.Fragment(str(int(value)))
    if kind is dict:  # a key beyond 64 bits: its digits, as OPT_NON_STR_KEYS writes any integer key
        return {(str(int(k)) if isinstance(k, int) and not _INT64[0] <= k <= _INT64[1] else k):
                _exact_big_ints(v, depth + 1) for k, v in value.items()}
    if kind in (list, tuple, set, frozenset):
        return [_exact_big_ints(v, depth + 1) for v in value]
    return value


def encode_value(value: Any) -> bytes:
    """Compact JSON of one value, no newline; ``Unwritable`` when it cannot be JSON.

    orjson is first called without ``OPT_NON_STR_KEYS``, which costs ~100 ns per event of
    ten fields even when every key is text (as decoded JSON's always are): a key that is not
    text raises, and the value is written again with it."""
    try:
        return orjson.dumps(value, default=_default)
    except orjson.JSONEncodeError:
        return _dumps(value, _OPTIONS)


def encode_event(event: Any) -> bytes:
    """Compact JSON of one event followed by a newline (one JSON Lines record).

    Called once per event written: orjson is called here directly (one Python frame)."""
    try:
        return orjson.dumps(event, default=_default, option=orjson.OPT_APPEND_NEWLINE)  # as encode_value
    except orjson.JSONEncodeError:
        return _dumps(event, _LINE_OPTIONS)


def encode_batch(events) -> bytes:
    """JSON Lines of a whole batch, joined once so the writer does one ``write`` per batch."""
    return b"".join([encode_event(e) for e in events])
