"""``cast: {debezium: true}``: decode Debezium PostgreSQL change events into typed row changes.

Input events are what Debezium's ``JsonConverter`` writes for the PostgreSQL connector, already
JSON-decoded: either with the schema (``{"schema": {...}, "payload": {...}}``,
``value.converter.schemas.enable=true``) or the payload alone (``schemas.enable=false``).

With the schema, every ``before``/``after`` column is decoded by its logical type (the schema
field's ``name``): ``Decimal`` base64 bytes + scale, ``VariableScaleDecimal``, the
``io.debezium.time.*`` and Kafka Connect time types, ``Uuid``, ``Json``, ... (docs/debezium.md
lists every mapping and where Debezium documents it). Without the schema nothing says which
column is a decimal or a timestamp: the step's ``fields`` casts say it, read with the
``debezium: {decimal: ..., time: ...}`` hints (how the connector was configured).

Output (one flat event per change)::

    {"op": "c"|"u"|"d"|"r"|"t", "before": {...}|None, "after": {...}|None, "source": {...},
     "ts_ms": int|None, "transaction": {...}|None, "table": source.table,
     "tx_id": str(source.txId) (or the txId part of transaction.id), "lsn": source.lsn}

Row decoders are compiled once per distinct row schema and cached, so decoding an event is a
walk over the few columns that need a conversion, with the converter already chosen.
"""

from __future__ import annotations

import binascii
import json
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Callable, Dict, List, Optional, Tuple

import orjson

from engine.errors import ConfigError
from engine.operators.cast_fields import parse_casts
from engine.operators.dead import one_by_one
from engine.values import converter as value_converter
from engine.values import decimal_converter, parse_timestamp

DECIMAL_MODES = ("precise", "string", "double")
TIME_MODES = ("adaptive", "adaptive_time_microseconds", "connect")
OPS = frozenset({"c", "u", "d", "r", "t", "m"})
OUTPUT_FIELDS = {"op": "str", "before": "json", "after": "json", "source": "json", "ts_ms": "int",
                 "transaction": "json", "table": "str", "tx_id": "str", "lsn": "int"}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DATE = date(1970, 1, 1)
_UTC_MAX = datetime.max.replace(tzinfo=timezone.utc)
_UTC_MIN = datetime.min.replace(tzinfo=timezone.utc)
# PostgreSQL 'infinity' / '-infinity' timestamps, as the connector encodes them (epoch ms,
# like the PostgreSQL JDBC driver): Python has no infinite datetime, so they become the
# largest / smallest datetime.
_PLUS_INFINITY_MS = 9223372036825200000
_MINUS_INFINITY_MS = -9223372036832400000


class DecodeError(ValueError):
    """One column (or the envelope) could not be decoded; the message names it."""


# --- converters for one value (never None) ------------------------------------------------

def _unscaled(value) -> int:
    if type(value) is not str:
        raise ValueError(f"expected base64 text, got {type(value).__name__}")
    try:
        raw = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64 text") from None
    if not raw:
        raise ValueError("empty bytes")
    return int.from_bytes(raw, "big", signed=True)


def _scaled(unscaled: int, scale: int) -> Decimal:
    # built from text: exact whatever the number of digits (no context rounding)
    return Decimal(f"{unscaled}E{-scale}")


def _number_decimal(value, scale: Optional[int]) -> Decimal:
    """A decimal the converter wrote as a number (JsonConverter decimal.format=NUMERIC) or
    text (decimal.handling.mode=string), or a double (mode double)."""
    kind = type(value)
    if kind is bool:
        raise ValueError("booleans are not numbers")
    try:
        number = Decimal(repr(value)) if kind is float else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError("not a number") from None
    if scale is not None and number.is_finite():
        number = number.quantize(Decimal(1).scaleb(-scale))
    return number


def decimal_bytes(scale: int) -> Callable:
    """``org.apache.kafka.connect.data.Decimal``: base64 of the big-endian two's-complement
    unscaled integer; the scale is the schema parameter."""

    def decode_decimal(value):
        if type(value) is str:
            return _scaled(_unscaled(value), scale)
        if type(value) is Decimal:
            return value
        return _number_decimal(value, scale)

    return decode_decimal


def variable_scale_decimal(value):
    """``io.debezium.data.VariableScaleDecimal``: ``{"scale": int, "value": base64}``."""
    if type(value) is Decimal:
        return value
    if type(value) is not dict or "scale" not in value or "value" not in value:
        raise ValueError("expected {scale, value}")
    scale = value["scale"]
    if type(scale) is not int:
        raise ValueError("scale is not an integer")
    return _scaled(_unscaled(value["value"]), scale)


def _integer(value) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value == int(value):
        return int(value)
    raise ValueError(f"expected an integer, got {type(value).__name__}")


def epoch_days(value):
    """``io.debezium.time.Date`` / ``org.apache.kafka.connect.data.Date``: days since the epoch."""
    if type(value) is date:
        return value
    return _EPOCH_DATE + timedelta(days=_integer(value))


def _epoch(unit_per_second: int, infinities: bool) -> Callable:
    """Epoch numbers in a unit -> aware UTC datetime (integer arithmetic: exact)."""
    micros_per_unit = 1_000_000 // unit_per_second if unit_per_second <= 1_000_000 else None

    def decode_timestamp(value):
        if type(value) is datetime:
            return value
        number = _integer(value)
        if infinities:
            if number == _PLUS_INFINITY_MS:
                return _UTC_MAX
            if number == _MINUS_INFINITY_MS:
                return _UTC_MIN
        if micros_per_unit is not None:
            micros = number * micros_per_unit
        else:  # nanoseconds: Python keeps microseconds (truncated toward the past)
            micros = number // (unit_per_second // 1_000_000)
        try:
            return _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise ValueError("out of the representable range (years 1-9999)") from None

    return decode_timestamp


def _time_of_day(unit_per_second: int) -> Callable:
    """Time since midnight in a unit -> ``datetime.time`` (microsecond precision)."""

    def decode_time(value):
        if type(value) is time:
            return value
        number = _integer(value)
        micros = number * (1_000_000 // unit_per_second) if unit_per_second <= 1_000_000 else number // 1_000
        if not 0 <= micros < 86_400_000_000:
            raise ValueError("not a time of day (PostgreSQL's 24:00:00 has no Python time)")
        seconds, micro = divmod(micros, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return time(hour, minute, second, micro)

    return decode_time


def zoned_timestamp(value):
    """``io.debezium.time.ZonedTimestamp``: ISO-8601 text with an offset -> aware UTC datetime."""
    if type(value) is datetime:
        return value
    if type(value) is not str:
        raise ValueError(f"expected ISO-8601 text, got {type(value).__name__}")
    if value == "infinity":
        return _UTC_MAX
    if value == "-infinity":
        return _UTC_MIN
    return parse_timestamp(value)


def zoned_time(value):
    """``io.debezium.time.ZonedTime``: ISO-8601 time with an offset -> aware ``time`` in UTC."""
    if type(value) is time:
        return value
    if type(value) is not str:
        raise ValueError(f"expected ISO-8601 text, got {type(value).__name__}")
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None or parsed.tzinfo is timezone.utc:
        return parsed.replace(tzinfo=timezone.utc)
    offset = parsed.utcoffset()
    shifted = (datetime.combine(_EPOCH_DATE, parsed.replace(tzinfo=None)) - offset).time()
    return shifted.replace(tzinfo=timezone.utc)


_LONG_NUMBER = re.compile(r"\d{16}")  # orjson would make a float of an integer this long


def json_text(value):
    """``io.debezium.data.Json`` (json, jsonb, hstore in json mode): JSON text -> object."""
    if type(value) is str:
        if _LONG_NUMBER.search(value) is None:
            try:
                return orjson.loads(value)  # ~5x the standard library
            except orjson.JSONDecodeError:
                pass  # NaN, Infinity: the standard library's reading of them, or its error
        return json.loads(value)
    if isinstance(value, (dict, list)):
        return value
    raise ValueError(f"expected JSON text, got {type(value).__name__}")


# logical type name -> converter of a non-null value (None: kept as it is)
LOGICAL: Dict[str, Optional[Callable]] = {
    "io.debezium.data.VariableScaleDecimal": variable_scale_decimal,
    "io.debezium.time.Date": epoch_days,
    "org.apache.kafka.connect.data.Date": epoch_days,
    "io.debezium.time.Timestamp": _epoch(1_000, True),
    "io.debezium.time.MicroTimestamp": _epoch(1_000_000, True),
    "io.debezium.time.NanoTimestamp": _epoch(1_000_000_000, True),
    "org.apache.kafka.connect.data.Timestamp": _epoch(1_000, True),
    "io.debezium.time.ZonedTimestamp": zoned_timestamp,
    "io.debezium.time.Time": _time_of_day(1_000),
    "io.debezium.time.MicroTime": _time_of_day(1_000_000),
    "io.debezium.time.NanoTime": _time_of_day(1_000_000_000),
    "org.apache.kafka.connect.data.Time": _time_of_day(1_000),
    "io.debezium.time.ZonedTime": zoned_time,
    "io.debezium.data.Json": json_text,
    # kept as they are (text, or numbers with no better Python type):
    "io.debezium.data.Uuid": None, "io.debezium.data.Enum": None, "io.debezium.data.EnumSet": None, "io.debezium.data.Xml": None,
    "io.debezium.data.Ltree": None, "io.debezium.time.Interval": None,
    "io.debezium.time.MicroDuration": None, "io.debezium.data.Bits": None,
}
DECIMAL = "org.apache.kafka.connect.data.Decimal"


def _schema_converter(schema: dict) -> Optional[Callable]:
    """The converter of one field schema's values, or None when values are kept as they are."""
    name = schema.get("name")
    if name == DECIMAL:
        params = schema.get("parameters") or {}
        try:
            scale = int(params["scale"])
        except (KeyError, TypeError, ValueError):
            raise DecodeError(f"Decimal schema without a scale parameter: {params!r:.80}") from None
        return decimal_bytes(scale)
    if name in LOGICAL:
        return LOGICAL[name]
    kind = schema.get("type")
    if kind == "array":
        item = _schema_converter(schema.get("items") or {})
        if item is None:
            return None

        def decode_array(value, item=item):
            if type(value) is not list:
                raise ValueError("expected a list")
            return [None if v is None else item(v) for v in value]

        return decode_array
    if kind == "struct" and schema.get("fields"):
        inner = _row_converters(schema["fields"])
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


def _row_converters(fields: list) -> List[Tuple[str, Callable]]:
    pairs = []
    for field in fields:
        convert = _schema_converter(field)
        if convert is not None:
            pairs.append((field["field"], convert))
    return pairs


# --- schemaless field casts ---------------------------------------------------------------

def hinted_converter(type_name: str, decimal_mode: str, time_mode: str) -> Callable:
    """A ``fields`` cast that also reads Debezium's encodings of schemaless values:
    ``decimal(p,s)`` reads base64 unscaled bytes with scale ``s`` (mode precise) or
    ``{scale, value}``; ``timestamp`` reads epoch numbers (microseconds, milliseconds with
    ``time: connect``); ``date`` reads days since the epoch. Anything else is the plain cast."""
    plain = value_converter(type_name)
    if type_name.startswith("decimal("):
        precision, scale = (int(p) for p in type_name[8:-1].split(","))
        fit = decimal_converter(precision, scale)
        from_bytes = decimal_bytes(scale)

        def to_decimal(value):
            if type(value) is dict:
                return fit(variable_scale_decimal(value))
            if type(value) is str and decimal_mode == "precise":
                return fit(from_bytes(value))
            return fit(value)

        return to_decimal
    if type_name == "timestamp":
        from_epoch = _epoch(1_000 if time_mode == "connect" else 1_000_000, True)

        def to_timestamp(value):
            if type(value) is int:
                return from_epoch(value)
            return zoned_timestamp(value)

        return to_timestamp
    if type_name == "date":
        def to_date(value):
            if type(value) is int:
                return epoch_days(value)
            return plain(value)

        return to_date
    return plain


# --- the step -------------------------------------------------------------------------------

class DebeziumDecoder:
    """Decodes batches of Debezium change events (see the module docstring)."""

    def __init__(self, step_id: str, config: dict, input_fields=None) -> None:
        self.step_id = step_id
        options = config.get("debezium")
        hints = options if isinstance(options, dict) else {}
        self.decimal_mode = hints.get("decimal", "precise")
        self.time_mode = hints.get("time", "adaptive")
        if self.decimal_mode not in DECIMAL_MODES:
            raise ConfigError(f"unknown decimal mode '{self.decimal_mode}' (one of {', '.join(DECIMAL_MODES)})", ("debezium", "decimal"))
        if self.time_mode not in TIME_MODES:
            raise ConfigError(f"unknown time mode '{self.time_mode}' (one of {', '.join(TIME_MODES)})", ("debezium", "time"))
        self.to_null = config.get("on_error", "dead_letter") == "null"
        self.casts, top_level = parse_casts(
            config.get("fields") or {}, lambda type_name: hinted_converter(type_name, self.decimal_mode, self.time_mode))
        self.output_fields = {**OUTPUT_FIELDS, **top_level}
        # row schema (its list of fields) -> converters; a list because dicts are unhashable
        self._cache: Dict[object, List[Tuple[list, List[Tuple[str, Callable]]]]] = {}
        self._last_schema: object = None
        self._last_converters: Tuple[List, List] = ([], [])

    # batch ------------------------------------------------------------------------------

    def process(self, batch: list):
        return one_by_one(self.step_id, batch, self.decode, catch=DecodeError)

    # one event --------------------------------------------------------------------------

    def decode(self, event) -> dict:
        if type(event) is not dict:
            raise DecodeError(f"not a Debezium change event: a {type(event).__name__}, not an object")
        schema = None
        payload = event
        if "payload" in event and "op" not in event:
            payload = event["payload"]
            schema = event.get("schema")
            if type(payload) is not dict:
                raise DecodeError("not a Debezium change event: 'payload' is not an object")
        op = payload.get("op")
        if op is None:
            raise DecodeError("not a Debezium change event: missing 'op'" + _what(payload))
        if op not in OPS:
            raise DecodeError(f"unsupported Debezium operation {op!r:.20} (expected c, u, d, r, t or m)")
        before, after = payload.get("before"), payload.get("after")
        if schema is not None:
            before_fields, after_fields = self._row_schemas(schema)
            raw_before = before
            if before is not None:
                before = self._decode_row(before, "before", before_fields)
            if after is not None:
                reuse = before_fields is after_fields  # the same converters (they nearly always are)
                after = self._decode_row(after, "after", after_fields, raw_before if reuse else None, before)
        else:
            before = _copy_row(before, "before")
            after = _copy_row(after, "after")
        source = payload.get("source")
        if source is not None and type(source) is not dict:
            raise DecodeError("'source' is not an object")
        source = source or {}
        transaction = payload.get("transaction")
        tx_id = source.get("txId")
        if tx_id is None and type(transaction) is dict and transaction.get("id") is not None:
            tx_id = str(transaction["id"]).split(":", 1)[0]
        out = {"op": op, "before": before, "after": after, "source": source,
               "ts_ms": payload.get("ts_ms"), "transaction": transaction,
               "table": source.get("table"), "tx_id": None if tx_id is None else str(tx_id),
               "lsn": source.get("lsn")}
        if op == "m":  # a logical decoding message (pg_logical_emit_message): prefix and content
            out["message"] = payload.get("message")
        if self.casts:
            self._apply_casts(out)
        return out

    def _row_schemas(self, schema) -> Tuple[List, List]:
        """The converters of the ``before`` and ``after`` row schemas of an envelope schema."""
        if schema is self._last_schema:  # decoded sources share one parsed schema per table
            return self._last_converters
        self._last_converters = self._find_row_schemas(schema)
        self._last_schema = schema
        return self._last_converters

    def _find_row_schemas(self, schema) -> Tuple[List, List]:
        if type(schema) is not dict:
            raise DecodeError("'schema' is not an object")
        before = after = None
        for field in schema.get("fields") or ():
            name = field.get("field")
            if name == "after":
                after = field
            elif name == "before":
                before = field
        before_convs = self._compiled(before) if before is not None else []
        after_convs = self._compiled(after) if after is not None else before_convs
        if before is None:
            before_convs = after_convs
        return before_convs, after_convs

    def _compiled(self, row_schema: dict) -> List[Tuple[str, Callable]]:
        fields = row_schema.get("fields") or []
        key = (row_schema.get("name"), row_schema.get("version"), len(fields))
        entries = self._cache.setdefault(key, [])
        for known, convs in entries:
            if known == fields:  # deep equality: a C-level walk, no serialisation
                return convs
        convs = _row_converters(fields)
        entries.append((fields, convs))
        if len(entries) > 32:  # a schema changing all the time: keep the recent ones
            del entries[0]
        return convs

    def _decode_row(self, row, which: str, convs: List[Tuple[str, Callable]],
                    raw_before=None, before=None) -> dict:
        """``row`` with every field converted; an update's after image takes the converted
        value of each field its before image has unchanged (most of them)."""
        if type(row) is not dict:
            raise DecodeError(f"'{which}' is not an object")
        out = dict(row)
        same = raw_before if type(raw_before) is dict and type(before) is dict else {}
        for key, convert in convs:
            value = out.get(key)
            if value is not None:
                if key in same and same[key] == value and type(same[key]) is type(value):
                    out[key] = before[key]
                    continue
                try:
                    out[key] = convert(value)
                except (ValueError, TypeError, ArithmeticError, OverflowError) as exc:
                    if self.to_null:
                        out[key] = None
                        continue
                    raise DecodeError(f"cannot decode field '{which}.{key}' value {value!r:.80}: {exc}") from None
        return out

    def _apply_casts(self, out: dict) -> None:
        for path, type_name, convert in self.casts:
            node = out
            for key in path[:-1]:
                child = node.get(key)
                if type(child) is not dict:
                    node = None
                    break
                if key not in ("before", "after") or node is not out:
                    node[key] = child = dict(child)  # nested objects of the input: copy before writing
                node = child
            if node is None:
                continue
            value = node.get(path[-1])
            if value is None:
                continue
            try:
                node[path[-1]] = convert(value)
            except (ValueError, TypeError, ArithmeticError, OverflowError) as exc:
                if self.to_null:
                    node[path[-1]] = None
                    continue
                raise DecodeError(f"cannot cast field '{'.'.join(path)}' value {value!r:.80} to {type_name}: {exc}") from None


def _copy_row(row, which: str):
    if row is None:
        return None
    if type(row) is not dict:
        raise DecodeError(f"'{which}' is not an object")
    return dict(row)


def _what(payload: dict) -> str:
    if "status" in payload and "event_count" in payload:
        return " (a transaction metadata record: read the transaction topic without cast)"
    if set(payload) <= {"ts_ms", "ts_us", "ts_ns"}:
        return " (a heartbeat)"
    return ""
