"""JSON text to Python values with bounded work, for every place that parses JSON text.

Sources' decode step, ``cast`` to ``json`` and Debezium ``Json`` columns read JSON with the same
rules (docs/connectors.md, *Decoding*):

* RFC 8259 JSON only: ``NaN``, ``Infinity`` and ``-Infinity`` are refused with that reason;
  so is text orjson refuses (not UTF-8, an escaped lone surrogate, which no sink could write).
* Integers are exact whatever their size: orjson (fast, used first) turns an integer beyond
  64 bits into a float, so a value holding a float of 2**63 or more is parsed again with the
  standard library, which keeps Python ints. Numbers beyond the double range (~1e308, i.e.
  integers of more than 308 digits) are refused. Fractions are doubles, as JSON readers make them.
* ``loads_column`` (JSON text of a database column: Debezium ``Json`` columns, ``cast`` to
  ``json``) also keeps fractions exact: PostgreSQL's jsonb numbers are ``numeric``, so a number
  literal a double cannot hold exactly (more than 15 significant digits, a tiny exponent)
  becomes a ``Decimal`` of its exact digits; every other fraction stays a float (its shortest
  text is the literal's value). Sinks write Decimals with their digits. Numbers beyond the double
  range are taken there too (``1e400`` a ``Decimal``, a 400-digit integer an int).
* Values nest at most ``MAX_DEPTH`` levels (``{"a": [1]}`` is 2), well under the 254 the JSON
  writers accept, so what a source reads can always be written out again.

The depth and big-number checks walk a parsed value level by level with
``gc.get_referents`` (the values of dicts, the items of lists, in one C call per level) and
never recurse in Python; ``check_batch`` (the decode step's check of a whole batch) walks only
the containers that can hold containers and searches the text for the rest.
"""

from __future__ import annotations

import gc
import json
import math
from decimal import Decimal
from itertools import compress
from typing import Any, Iterable, Optional, Union

import orjson

MAX_DEPTH = 128  # levels of nesting of an event, or of a JSON value decoded from text
MAX_DEAD_TEXT = 64 * 1024  # characters of undecodable text a dead letter keeps
MAX_VALUE_BYTES = 16 * 1024 * 1024  # a longer value (a file's line, a Kafka message) is dead-lettered unread
_BIG = 2.0 ** 63  # a float this large may be an integer orjson could not hold
_CONTAINER = {dict, list}.__contains__
_FLOAT = {float}.__contains__
_refs = gc.get_referents
_tracked = gc.is_tracked
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))  # b"0" for every digit
_DIGITS_19 = b"0" * 19


class _Lazy:
    """A re2 pattern compiled at its first search: importing re2 costs ~3 ms of every start-up,
    and many runs never search. The compiled ``search`` then replaces this method on the
    instance, so later searches cost what they did."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern

    def search(self, text):  # noqa: D102 - re2's search
        import re2

        search = self.search = re2.compile(self.pattern).search  # type: ignore[method-assign]
        return search(text)


# a number literal a double may not hold exactly: 16+ digits (a point among them), or an
# exponent of 3 digits; found anywhere (also in strings: then parsing again changes nothing)
_LONG_NUMBER = _Lazy(rb"(?:[0-9]\.?){16}|[eE][-+]?[0-9]{3}")

# a fraction literal (a value: after ':' '[' or ',') of 16+ digits with a point among them, or
# a number with a 3-digit exponent: a double may not hold it exactly, so the text is read again
# with exact decimals (``exact``). Integers of up to 19 digits (epoch microseconds) do not match.
_SIXTEEN_DIGITS_WITH_A_POINT = b"|".join(b"[0-9]{%d}\\.[0-9]{%d}" % (k, 16 - k) for k in range(1, 16))
_LONG_FRACTION = _Lazy(rb"[:\[,][ \t\n\r]*-?[0-9]*(?:" + _SIXTEEN_DIGITS_WITH_A_POINT
                             + rb")|[0-9][eE][-+]?[0-9]{3}")

# an object member whose value is an integer literal that may not fit 64 bits (19+ digits
# after a minus, 20+ without), or a long fraction as above: one scan of a batch's text (two
# searches took twice as long); the leading ':' lets re2 skip ahead with memchr (the pattern
# above scans every byte: ~0.15 us per event); array items are left to the walk
_BIG_OR_LONG_MEMBER = _Lazy(rb":[ \t\n\r]*(?:-[0-9]{19}|[0-9]{20}|-?[0-9]*(?:" + _SIXTEEN_DIGITS_WITH_A_POINT
                                  + rb"|[0-9.]*[eE][-+]?[0-9]{3}))")

# check() results
DEEP = "deep"
BIG_NUMBER = "big"


class JsonTextError(json.JSONDecodeError):
    """Text that is not JSON the engine accepts; the message says why, in one line.

    A ``json.JSONDecodeError`` (hence a ValueError), as callers of ``json.loads`` expect."""

    def __init__(self, message: str) -> None:  # noqa: D107 - no document or position to keep
        ValueError.__init__(self, message)
        self.msg, self.doc, self.pos, self.lineno, self.colno = message, "", 0, 1, 1

    def __reduce__(self):
        return type(self), (self.msg,)


def loads(text, depth_limit: int = MAX_DEPTH) -> Any:
    """The value of JSON ``text`` (str or bytes) under the module's rules, or JsonTextError.

    For one value, cheap checks of the text first: a value nested N levels has at least N
    opening brackets, and an integer orjson cannot keep has 19 digits or more."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise JsonTextError(malformed(exc)) from None
    kind = type(value)
    if kind is not dict and kind is not list or len(text) < 19:
        return exact(text) if kind is float and not -_BIG < value < _BIG else value
    raw = text if type(text) is bytes else str(text).encode("utf-8", "surrogatepass")
    if len(raw) > 2 * depth_limit and raw.count(b"[") + raw.count(b"{") > depth_limit:
        problem = check(value, depth_limit)
        if problem is DEEP:
            raise JsonTextError(too_deep(depth_limit))
        return value if problem is None else exact(text)
    if len(raw) >= 19 and _DIGITS_19 in raw.translate(_DIGITS_AS_ZERO):
        return exact(text)
    return value


def loads_column(text) -> Any:
    """``loads``, with every number exact: a fraction a double does not hold exactly becomes
    a ``Decimal`` (see the module docstring). Costs a second parse only for text holding a long
    number literal (16+ digits or a 3-digit exponent)."""
    try:
        value = loads(text)
    except JsonTextError as exc:
        if not exc.msg.startswith(_BEYOND_DOUBLE):
            raise
        return _beyond_double(text)
    raw = text if type(text) is bytes else str(text).encode("utf-8", "surrogatepass")
    if _LONG_NUMBER.search(raw) is None:
        return value
    return exact(text)


_BEYOND_DOUBLE = "malformed JSON: a number beyond the double range"  # malformed's words, which loads_column tells


def _beyond_double(text) -> Any:
    """A column's JSON holding a number orjson refuses, beyond the double range: PostgreSQL's
    jsonb numbers are ``numeric`` (up to 131,072 digits before the point), so ``1e400`` is one.
    Parsed exactly (that number a ``Decimal``, an integer an int), within the depth limit."""
    try:
        value = exact(text)
    except JsonTextError:
        raise
    except ValueError as exc:  # an integer over Python's 4,300 digits for int()
        raise JsonTextError(f"malformed JSON: {str(exc).splitlines()[0]}") from None
    if (type(value) is dict or type(value) is list) and check(value, MAX_DEPTH) is DEEP:
        raise JsonTextError(too_deep(MAX_DEPTH))
    return value


def _exact_fraction(literal: str) -> Any:
    """A JSON fraction's value: the float when it is exactly the literal's number, else the
    literal's Decimal."""
    number = float(literal)
    if math.isfinite(number) and Decimal(repr(number)) == Decimal(literal):
        return number
    return Decimal(literal)


def long_fraction(text: Union[bytes, memoryview]) -> bool:
    """True when ``text`` holds a number a double may not hold exactly (``_LONG_FRACTION``)."""
    return _LONG_FRACTION.search(text) is not None


def exact(text) -> Any:
    """``text`` (already accepted by orjson) parsed with exact integers of any size, and the
    fractions a double does not hold exactly as ``Decimal``."""
    try:
        return json.loads(text, parse_float=_exact_fraction, parse_constant=_refuse_constant)
    except RecursionError:
        raise JsonTextError(too_deep(MAX_DEPTH)) from None


def malformed(exc: orjson.JSONDecodeError) -> str:
    """One line for orjson's error, naming NaN/Infinity when that is what it stopped at."""
    doc, pos = exc.doc or "", exc.pos or 0
    where = f"line {exc.lineno} column {exc.colno}"
    for word in ("-Infinity", "Infinity", "NaN"):
        start = pos - 1 if word[0] == "-" else pos
        if doc.startswith(word, max(start, 0)):
            return f"malformed JSON: {word} is not a JSON number ({where})"
    if str(exc).startswith("depth limit exceeded"):  # orjson stops at 1024 levels
        return too_deep(MAX_DEPTH)
    if str(exc).startswith("number is infinity"):
        return f"{_BEYOND_DOUBLE}, about 1e308 ({where})"
    return f"malformed JSON: {exc}"


def too_deep(limit: int) -> str:
    return f"nested deeper than {limit} levels"


def _refuse_constant(word: str):
    raise JsonTextError(f"malformed JSON: {word} is not a JSON number")


def check(value: Any, depth_limit: int = MAX_DEPTH) -> Optional[str]:
    """``DEEP`` when the dict or list ``value`` nests deeper than ``depth_limit``, else
    ``BIG_NUMBER`` when it holds a float of 2**63 or more (maybe an integer orjson could not
    keep), else None. Looks at every value: for single values (a JSON column, a schema)."""
    level = [value]
    big = None
    depth = 1
    while level:
        if depth > depth_limit:
            return DEEP
        items = _refs(*level)
        kinds = set(map(type, items))
        if big is None and float in kinds and _has_big(items):
            big = BIG_NUMBER
        if dict not in kinds and list not in kinds:
            break
        level = list(compress(items, map(_CONTAINER, map(type, items))))
        depth += 1
    return big


def check_batch(roots: list, texts: Iterable, depth_limit: int = MAX_DEPTH,
                joined: Optional[bytes] = None) -> Optional[str]:
    """``check`` of many dicts/lists at once (a decoded batch), given the JSON ``texts`` (bytes)
    they were parsed from: None when every one is fine.

    Faster than looking at every value: a dict holding only scalars is not tracked by Python's
    garbage collector (``gc.is_tracked``), while a list, and every dict or list holding a dict
    or a list, is. So only tracked containers are walked (nesting, and the numbers that are
    array items); a number that is an object member's value follows a ``:`` in the text, where
    one search of the texts finds any integer literal of 19+ digits. (A Python that tracked
    every dict would make the walk longer, never wrong.) ``joined``: the texts' bytes joined
    with no separator, when the caller has them and every root is an object (its text ends
    with ``}``, so no number runs from one text into the next)."""
    if joined is None:
        try:
            joined = b"\n".join(texts)
        except TypeError:  # a text given as str
            joined = b"\n".join(t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t for t in texts)
    if _BIG_OR_LONG_MEMBER.search(joined) is not None:
        return BIG_NUMBER
    return _walk(list(filter(_tracked, roots)), depth_limit, joined)


def check_payloads(roots: list, joined: bytes, depth_limit: int) -> Optional[str]:
    """What ``check_batch([], (), joined=joined)`` and then ``check_batch(roots, (), depth_limit)``
    find (the decode step's check of envelopes' payloads ``roots``, whose texts ``joined`` has),
    with less work: the roots are walked unfiltered (payloads hold containers, and an untracked
    one only scalars)."""
    if _BIG_OR_LONG_MEMBER.search(joined) is not None:
        return BIG_NUMBER
    return _walk(roots, depth_limit, b"")


def _walk(level: list, depth_limit: int, joined: bytes) -> Optional[str]:
    """``check_batch``'s walk from ``level``, the containers at depth 1 that may hold containers."""
    depth = 1
    while level:
        if list in set(map(type, level)):  # array items: numbers the text search does not see
            values = _refs(*[c for c in level if type(c) is list])
            if float in set(map(type, values)) and (_has_big(values) or long_fraction(joined)):
                return BIG_NUMBER  # a float array item: is any number in the text a long one?
        items = _refs(*level)
        nested = list(filter(_tracked, items))
        if not nested:  # below: only dicts of scalars, one level more
            if depth >= depth_limit and (dict in set(map(type, items)) or list in set(map(type, items))):
                return DEEP
            return None
        depth += 1
        if depth > depth_limit:
            return DEEP
        level = nested
    return None


def _has_big(items: list) -> bool:
    floats = list(compress(items, map(_FLOAT, map(type, items))))
    return max(floats) >= _BIG or min(floats) <= -_BIG


def dead_text(raw, limit: int = MAX_DEAD_TEXT) -> Any:
    """What a dead letter carries of an undecodable value: the text (bytes read as UTF-8,
    invalid bytes replaced), cut to ``limit`` bytes or characters with a note of the full
    length, so the dead letter of a huge value stays small."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        size = len(raw)
        text = bytes(raw[:limit]).decode("utf-8", "replace")
        unit = "bytes"
    elif isinstance(raw, str):
        size, text, unit = len(raw), raw[:limit], "characters"
    else:
        return raw
    if size <= limit:
        return text
    return f"{text}... [cut: {size} {unit} in all, the first {limit} kept]"
