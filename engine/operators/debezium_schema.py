"""A Connect envelope schema -> the converters of its ``before``/``after`` row columns.

Schemas come with every message and are input like any other: whatever their shape, compiling
one returns converters or raises ``DecodeError`` naming the part that is wrong by its JSON
path (``schema.fields[0] is not an object``, ``schema.fields[1].fields[3] (Decimal) has no
scale parameter``), and never anything else.
"""

from __future__ import annotations

import binascii
import re
from typing import Callable, List, Optional, Tuple

from engine.code_cache import compiled
from engine.operators.debezium_types import (
    DECIMAL,
    IMMUTABLE,
    LOGICAL,
    UUID,
    DecodeError,
    check_scale,
    connect_float,
    decimal_bytes,
)
from engine.unavailable import UNAVAILABLE, UNAVAILABLE_ARRAYS

Converters = List[Tuple[str, Callable]]  # (column, converter of its non-null values)


class RowConverters(list):
    """A row's converters (a ``Converters`` list) and their two loops written out as code:
    ``row(r)``, the converted copy of ``r``, and ``after(r, raw_before, before)``, an update's
    after image taking before's converted value where the raw value is unchanged. Both raise
    on any failure: the caller then takes the loop that says what failed.

    For rows no one else holds (``Debezium.process_owned``), the same conversions in place:
    ``in_place(r)`` and ``both(before, after)`` (an update's two images, after taking before's
    value where unchanged). Each writes a column as soon as it is converted and, on any failure,
    writes back every column it read: the rows exactly as they were."""

    __slots__ = ("row", "after", "in_place", "both")

    def __init__(self, pairs: Converters = ()) -> None:  # type: ignore[assignment]
        super().__init__(pairs)
        # each pair written out at its first use: events owned whole (the usual) take only the
        # in-place pair, copies only the other (compiling a pair: ~0.5 ms of the first batch)
        self.row, self.after = self._first_row, self._first_after
        self.in_place, self.both = self._first_in_place, self._first_both

    def _first_row(self, r):
        self.row, self.after = _row_code(self)
        return self.row(r)

    def _first_after(self, r, raw_before, before):
        self.row, self.after = _row_code(self)
        return self.after(r, raw_before, before)

    def _first_in_place(self, r):
        self.in_place, self.both = _in_place_code(self)
        return self.in_place(r)

    def _first_both(self, b, a):
        self.in_place, self.both = _in_place_code(self)
        return self.both(b, a)
# Values remembered per memo (one per type: its columns in every row schema share it), and the
# longest text remembered. A memo is cleared when full: at 1,024 the domain flow's memos missed
# 1.21 times a message on a 10,000-transaction backlog (3,333 orders' timestamps and amounts in
# flight) and the clears and conversions cost ~3,700 instructions a message; at 4,096 (counted in
# memory, bench/domain_instructions.py): 141,854 instructions a message against 145,543, first-
# level misses 1,198 against 1,251, mispredicted branches 2,268 against 2,370, last-level misses
# 163.6 against 161.5. Through Kafka, the drain 10,835M instructions against 11,068M (8,192:
# 10,824M; 65,536: 10,752M, and ~13 MB a memo). ~1 MB a memo at most.
_MEMO, _MEMO_TEXT = 4096, 64
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,6}", re.ASCII)


def row_schemas(schema) -> Tuple[Optional[dict], Optional[dict], str, str]:
    """The field schemas of ``before`` and ``after`` in an envelope schema (None when absent),
    with their paths."""
    if type(schema) is not dict:
        raise DecodeError(f"'schema' is {_kind(schema)}, not an object")
    fields = schema.get("fields")
    if fields is None:
        return None, None, "", ""
    if type(fields) is not list:
        raise DecodeError(f"schema.fields is {_kind(fields)}, not a list")
    found = {"before": (None, ""), "after": (None, "")}
    for name, field, path in _named_fields(fields, "schema"):
        if name in found:
            found[name] = (field, path)
    (before, before_path), (after, after_path) = found["before"], found["after"]
    return before, after, before_path, after_path


def row_converters(fields, path: str) -> RowConverters:
    """The converters of a struct's ``fields`` (the columns that need one)."""
    if fields is None:
        return NO_CONVERTERS
    if type(fields) is not list:
        raise DecodeError(f"{path}.fields is {_kind(fields)}, not a list")
    pairs: list = []
    for name, field, where in _named_fields(fields, path):
        convert = column_converter(field, where)
        if convert is not None:
            pairs.append((name, convert))
    return RowConverters(pairs) if pairs else NO_CONVERTERS


def _row_code(convs: Converters) -> Tuple[Callable, Callable]:
    """``RowConverters``' two functions: per column, its statements in the loops' order, a
    remembered value looked up in the column's memo without a call. Columns are read as
    ``r[key]``, not ``r.get(key)`` (~100 instructions less a read): Debezium writes every column
    of the row schema, and a row without one raises KeyError, so the loops decode it."""
    names: dict = {}
    row, after = ["def row(r):", "    out = dict(r)"], ["def after(r, rb, b):", "    out = dict(r)"]
    for index, (key, convert) in enumerate(convs):
        _name(names, index, convert)
        row += [f"    v = out[{key!r}]", "    if v is None: pass"]
        row += _converted(convs, index, "v", f"out[{key!r}]", "    ")
        after += [f"    v = out[{key!r}]", "    if v is not None:", f"        o = rb[{key!r}]",
                  "        if o == v and type(o) is type(v):", f"            out[{key!r}] = b[{key!r}]"]
        after += _converted(convs, index, "v", f"out[{key!r}]", "        ")
    source = "\n".join(row + ["    return out"] + after + ["    return out"]) + "\n"
    exec(compiled(source, "<debezium row>", "exec"), names)  # noqa: S102 - code from the column names (reprs)
    return names["row"], names["after"]


def _in_place_code(convs: Converters) -> Tuple[Callable, Callable]:
    """``RowConverters.in_place`` and ``both``, written out as ``_row_code`` writes its loops
    (a column read as ``r[key]``: a row without one raises KeyError, and the caller decodes a
    copy). A column named twice is converted twice in a row by the loops (the second converter
    sees the first's value): no code for that, the caller decodes a copy."""
    names: dict = {}
    if not convs:  # no column to convert (an empty try block would not compile): the rows as they are
        return (lambda r: r), (lambda b, a: a)
    if len({key for key, _ in convs}) < len(convs):
        def twice(*_):
            raise ValueError("a column named twice: decoded by the loops")
        return twice, twice

    # each column written as soon as converted, and on any failure every column read written back: the
    # rows as they came (a null column is not written: no store, ~250 instructions)
    one, two, reads_one, reads_two, undo_one, undo_two = ["    try:"], ["    try:"], [], [], [], []
    for index, (key, convert) in enumerate(convs):
        _name(names, index, convert)
        v, w, at_r, at_b, at_a = f"v{index}", f"w{index}", f"r[{key!r}]", f"b[{key!r}]", f"a[{key!r}]"
        reads_one.append(f"    {v} = {at_r}")
        undo_one.append(f"        {at_r} = {v}")
        one += [f"        if {v} is None: pass"] + _converted(convs, index, v, at_r, "        ")
        reads_two += [f"    {v} = {at_b}", f"    {w} = {at_a}"]
        undo_two += [f"        {at_b} = {v}", f"        {at_a} = {w}"]
        two += [f"        if {v} is None: pass  # (y unused: a null is never equal to another type)"]
        two += _converted(convs, index, v, "y", "        ", f"{at_b} = y")
        two += [f"        if {w} is None: pass", f"        elif {v} == {w} and type({v}) is type({w}): {at_a} = y"]
        two += _converted(convs, index, w, at_a, "        ")
    source = "\n".join(["def in_place(r):", *reads_one, *one, "    except BaseException:", *undo_one, "        raise",
                        "    return r", "def both(b, a):", *reads_two, *two, "    except BaseException:", *undo_two,
                        "        raise", "    return a"]) + "\n"
    exec(compiled(source, "<debezium row in place>", "exec"), names)  # noqa: S102 - code from the column names (reprs)
    return names["in_place"], names["both"]


def _name(names: dict, index: int, convert) -> None:
    """Put column ``index``'s converter (and its memo's look-up) into the generated code's names."""
    names[f"f{index}"] = convert
    if getattr(convert, "plain_texts", None) is not None:
        import orjson  # (json_text's texts parsed by orjson alone: it was imported to find them)

        names[f"j{index}"], names["loads"] = convert.plain_texts, orjson.loads
    memo = getattr(convert, "memo_get", None)
    if memo is not None:
        names[f"g{index}"], names[f"t{index}"], names[f"m{index}"] = memo, convert.memo_type, convert.memo_missed


def _converted(convs: Converters, index: int, value: str, target: str, indent: str, then: str = "") -> List[str]:
    """The ``elif``/``else`` branches (after the one for null) setting ``target`` to column
    ``index``'s conversion of ``value`` (each followed by ``then``): a value of the column's
    usual type (text or integer, as the memo's keys: never a bool or a float taken for an equal
    integer) looked up in its memo without a call, when it has one; any other value, ``f`` looks
    up itself."""
    convert = convs[index][1]
    call = f"f{index}({value})"
    if getattr(convert, "floats_kept", False):  # (connect_float: floats stay as they are)
        branches = [("else:", [f"{target} = {call} if type({value}) is not float else {value}"])]
    elif getattr(convert, "plain_texts", None) is not None:  # (json_text: orjson's own values, without its call)
        branches = [(f"elif type({value}) is str and {value} in j{index}:", [f"{target} = loads({value})"]),
                    ("else:", [f"{target} = {call}"])]
    elif getattr(convert, "memo_type", None) is not None:
        remembered = [f"x = g{index}({value})", f"{target} = m{index}({value}) if x is None else x"]
        branches = [(f"elif type({value}) is t{index}:", remembered), ("else:", [f"{target} = {call}"])]
    else:
        branches = [("else:", [f"{target} = {call}"])]
    return [indent + line for head, body in branches
            for line in [head, *("    " + statement for statement in body + ([then] if then else []))]]


NO_CONVERTERS = RowConverters()  # a row without columns to convert
_SHARED: dict = {}  # the memoized converters made, by type (_memoized)


def _named_fields(fields: list, path: str):
    """(name, field schema, path) of each entry of a ``fields`` list, each checked."""
    for index, field in enumerate(fields):
        where = f"{path}.fields[{index}]"
        if type(field) is not dict:
            raise DecodeError(f"{where} is {_kind(field)}, not an object")
        name = field.get("field")
        if type(name) is not str:
            raise DecodeError(f"{where} has no 'field' name")
        yield name, field, where


def column_converter(schema: dict, path: str) -> Optional[Callable]:
    """The converter of one field schema's values, or None when values are kept as they are."""
    name = schema.get("name")
    if name is not None and type(name) is not str:
        raise DecodeError(f"{path}.name is {_kind(name)}, not text")
    if name == DECIMAL:
        scale = _decimal_scale(schema.get("parameters"), path)
        return _memoized(scale, lambda: memoized(decimal_bytes(scale), str))
    if name in LOGICAL:
        convert = LOGICAL[name]
        if name in IMMUTABLE and convert is not None:
            return _memoized(name, lambda: memoized(convert, _USUAL.get(name)))
        return convert
    kind = schema.get("type")
    if kind == "float" or kind == "double":
        return connect_float
    if kind == "bytes" and name is None:
        return bytes_text  # (BYTEA: only the placeholder changes)
    if kind == "map":
        return string_map  # (HSTORE in map mode: only the placeholder changes)
    if kind == "array":
        items = schema.get("items")
        if items is None:
            return None
        if type(items) is not dict:
            raise DecodeError(f"{path}.items is {_kind(items)}, not an object")
        item = column_converter(items, f"{path}.items")
        if item is None:
            return uuid_array if items.get("name") == UUID else None

        def decode_array(value, item=item):
            if type(value) is not list:
                raise ValueError("expected a list")
            if value in UNAVAILABLE_ARRAYS:  # an unchanged TOAST array: Debezium's placeholder, kept as sent
                return value
            return [None if v is None else item(v) for v in value]

        return decode_array
    if kind == "struct":
        inner = row_converters(schema.get("fields"), path)
        if not inner:
            return None

        def decode_struct(value, inner=inner):
            if type(value) is not dict:
                raise ValueError("expected an object")
            out = dict(value)
            for key, convert in inner:
                v = out.get(key)
                if v is not None:
                    out[key] = convert(v)
            return out

        return decode_struct
    return None  # int, float, bool, string, bytes (base64 text), geometry structs, ...


# the type of a memoized logical type's values as Debezium writes them (base64 and ISO texts, epoch numbers)
_USUAL = {"io.debezium.time.ZonedTimestamp": str, "io.debezium.time.ZonedTime": str,
          **dict.fromkeys(("io.debezium.time.Date", "org.apache.kafka.connect.data.Date", "io.debezium.time.Timestamp",
                           "io.debezium.time.MicroTimestamp", "io.debezium.time.NanoTimestamp",
                           "org.apache.kafka.connect.data.Timestamp", "io.debezium.time.Time",
                           "io.debezium.time.MicroTime", "io.debezium.time.NanoTime",
                           "org.apache.kafka.connect.data.Time"), int)}


def memoized(convert: Callable, usual: Optional[type] = None) -> Callable:
    """``convert`` remembering its last results (up to ``_MEMO`` values of one column): a
    column's values repeat (an order's ``created_at`` in each of its updates, the same weights),
    and its converter's result is immutable (Decimal, datetime, date, time). Only short text
    and integers are remembered (``True``, ``1`` and ``1.0`` are equal keys: never a bool or a
    float); a value that fails is never remembered, so it fails again with the same error."""
    cache: dict = {}
    get = cache.get
    direct = getattr(convert, "usual_convert", convert)  # (its converter of ``usual`` values, one call less)

    def remembered(value):
        kind = type(value)
        if (kind is str and len(value) <= _MEMO_TEXT) or kind is int:
            found = get(value)
            if found is None:
                found = direct(value) if kind is usual else convert(value)
                if len(cache) >= _MEMO:
                    cache.clear()
                cache[value] = found
            return found
        return convert(value)

    def missed(value):  # a value of the ``usual`` type the row code found in no memo
        found = direct(value)
        if usual is int or len(value) <= _MEMO_TEXT:
            if len(cache) >= _MEMO:
                cache.clear()
            cache[value] = found
        return found

    remembered.memo_get = get  # type: ignore[attr-defined]  # RowConverters' code looks values up itself
    remembered.memo_type = usual  # type: ignore[attr-defined]  # (of ``usual`` values only: None, none)
    remembered.memo_missed = missed  # type: ignore[attr-defined]  # (and converts those it misses)
    return remembered


def _memoized(key, make: Callable) -> Callable:
    """The process's memoized converter of a type (``key``: a logical type's name, a decimal's
    scale), made by ``make()`` at its first column: every column of that type, in any row schema,
    shares its memo (an insert's created_at = updated_at, a transaction's updated_at in each table
    it changed). Converters are pure and their results immutable."""
    found = _SHARED.get(key)
    if found is None:
        found = _SHARED[key] = make()
    return found


def _decimal_scale(parameters, path: str) -> int:
    """The ``scale`` parameter of a Decimal schema: Connect writes it as text (``"2"``)."""
    if type(parameters) is not dict or "scale" not in parameters:
        raise DecodeError(f"{path} (Decimal) has no scale parameter")
    scale = parameters["scale"]
    if type(scale) is str and _INTEGER_TEXT.fullmatch(scale):
        scale = int(scale)
    try:
        return check_scale(scale)
    except ValueError as exc:
        raise DecodeError(f"{path} (Decimal): {exc}") from None


def _kind(value) -> str:
    if value is None:
        return "null"
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


# --- placeholders of unchanged TOAST values that are not the text itself ------------------------
# (Debezium's UnchangedToastedPlaceholder): each becomes the text, or [text], which the table sinks,
# ``join`` and ``with_previous`` know (engine/unavailable.py); an hstore's json one is debezium_types'

_BYTES_UNAVAILABLE = binascii.b2a_base64(UNAVAILABLE.encode(), newline=False).decode()
# a uuid[]: the name-based UUID of the placeholder's bytes (java.util.UUID.nameUUIDFromBytes)
_UUIDS_UNAVAILABLE = ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]


def bytes_text(value):
    """``bytes`` columns without a logical type (BYTEA, items of BYTEA[]): base64 text kept as
    sent, but for the placeholder's bytes."""
    return UNAVAILABLE if value == _BYTES_UNAVAILABLE else value


def string_map(value):
    """``map`` columns (HSTORE with ``hstore.handling.mode=map``): kept as sent, but for the
    placeholder's map ``{placeholder: placeholder}``."""
    if type(value) is dict and len(value) == 1 and value.get(UNAVAILABLE) == UNAVAILABLE:
        return UNAVAILABLE
    return value


def uuid_array(value):
    """``UUID[]`` columns: kept as sent, but for the placeholder's UUID."""
    return [UNAVAILABLE] if value == _UUIDS_UNAVAILABLE else value
