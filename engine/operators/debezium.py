"""``debezium``: decode Debezium PostgreSQL change events into typed row changes.

Input events are what Debezium's ``JsonConverter`` writes for the PostgreSQL connector, already
JSON-decoded: either with the schema (``{"schema": {...}, "payload": {...}}``,
``value.converter.schemas.enable=true``) or the payload alone (``schemas.enable=false``).

With the schema, every ``before``/``after`` column is decoded by its logical type (the schema
field's ``name``): ``Decimal`` base64 bytes + scale, ``VariableScaleDecimal``, the
``io.debezium.time.*`` and Kafka Connect time types, ``Uuid``, ``Json``, ... (docs/debezium.md
lists every mapping and where Debezium documents it). Without the schema nothing says which
column is a decimal or a timestamp: the step's ``fields`` casts say it, read with the
``decimal`` and ``time`` hints (how the connector was configured).

Output (one flat event per change)::

    {"op": "c"|"u"|"d"|"r"|"t", "before": {...}|None, "after": {...}|None, "source": {...},
     "ts_ms": int|None, "transaction": {...}|None, "table": source.table,
     "tx_id": str(source.txId) (or the txId part of transaction.id), "lsn": source.lsn}

(After ``compact_later``, the compiler's call when a ``merge_transactions`` step alone reads the
step, the usual change is a tuple instead: engine/operators/compact_change.py.)

Row decoders are compiled once per distinct row schema and cached, so decoding an event is a
walk over the few columns that need a conversion, with the converter already chosen.

Never raises for an event: whatever its shape (a wrong type in any field, a broken schema, a
value no converter takes), it is dead-lettered with a one-line reason naming what is wrong.
Value converters: ``debezium_types``; schema checks and compilation: ``debezium_schema``;
the schemaless ``fields`` casts: ``debezium_casts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, Union

from engine.errors import ConfigError
from engine.operators.cast_fields import parse_casts, shown
from engine.operators.compact_change import OPS as COMPACT_OPS
from engine.operators.compact_change import STREAMING
from engine.operators.dead import describe, one_by_one
from engine.operators.debezium_casts import hinted_converter
from engine.operators.debezium_schema import NO_CONVERTERS, RowConverters, row_converters, row_schemas
from engine.operators.debezium_types import (  # noqa: F401 - all but DecodeError: part of this module's interface
    DecodeError,
    decimal_bytes,
    json_text,
    variable_scale_decimal,
)
from engine.records import DeadLetter

if TYPE_CHECKING:  # (the merge's, handed over by the compiler)
    from engine.operators.compact_keys import KeysOfChange

DECIMAL_MODES = ("precise", "string", "double")
TIME_MODES = ("adaptive", "adaptive_time_microseconds", "connect")
OPS = frozenset({"c", "u", "d", "r", "t", "m"})
NEEDS_AFTER = frozenset({"c", "u", "r"})  # Debezium always writes the new row for these
_NULL = type(None)
_OBJECT_OR_NULL, _INT_OR_NULL, _TEXT_OR_NULL = {dict, _NULL}, {int, _NULL}, {str, _NULL}
_ID_OR_NULL = {int, str, _NULL}
OUTPUT_FIELDS = {"op": "str", "before": "json", "after": "json", "source": "json", "ts_ms": "int",
                 "transaction": "json", "table": "str", "tx_id": "str", "lsn": "int", "source_ts_ms": "int"}


# --- the step -------------------------------------------------------------------------------

class Debezium:
    """Decodes batches of Debezium change events (see the module docstring)."""

    kind = "stateless"
    changes_nested = True  # process_owned converts the rows in place (engine/compiler/ownership.py)
    fresh_output = True  # every change event it gives is a dict it made (its rows may be the input's)

    def __init__(self, step_id: str, config: dict, input_fields=None) -> None:
        self.step_id = step_id
        self.decimal_mode = config.get("decimal", "precise")
        self.time_mode = config.get("time", "adaptive")
        if self.decimal_mode not in DECIMAL_MODES:
            raise ConfigError(f"unknown decimal mode '{self.decimal_mode}' (one of {', '.join(DECIMAL_MODES)})",
                              ("decimal",))
        if self.time_mode not in TIME_MODES:
            raise ConfigError(f"unknown time mode '{self.time_mode}' (one of {', '.join(TIME_MODES)})", ("time",))
        self.to_null = config.get("on_error", "dead_letter") == "null"
        self.casts, top_level = parse_casts(
            config.get("fields") or {},
            lambda type_name: hinted_converter(type_name, self.decimal_mode, self.time_mode))
        self.output_fields = {**OUTPUT_FIELDS, **top_level}
        # row schema (its list of fields) -> converters; a list because dicts are unhashable
        self._cache: Dict[object, List[Tuple[list, RowConverters]]] = {}
        self._last_schema: object = None
        # the converters of that schema, or the DecodeError it gave
        self._last_converters: Union[Tuple[RowConverters, RowConverters], DecodeError] = (NO_CONVERTERS, NO_CONVERTERS)
        self._good_schema: object = None  # _last_schema when it has converters (else None), and them
        self._good_converters: Tuple[RowConverters, RowConverters] = (NO_CONVERTERS, NO_CONVERTERS)
        self._tx_id: Union[int, str, None] = None  # the last change's, and its text
        self._tx_text: Optional[str] = None
        self._make_compact: Optional[Callable[[], Optional[KeysOfChange]]] = None  # compact_later's
        self._keys: Optional[KeysOfChange] = None  # (table, before, after) -> a compact change's row and group keys

    # batch ------------------------------------------------------------------------------

    def process(self, batch: list):
        return one_by_one(self.step_id, batch, self.decode, catch=Exception)

    def process_owned(self, batch: list):
        """``process``'s events and dead letters, the rows converted in place instead of copied:
        the compiler calls it only for events owned whole, nested objects too
        (engine/compiler/ownership.py). With ``fields`` casts (which write into the rows one
        field at a time), the copies of ``process``. After ``compact_later``, the usual changes are
        compact ones (engine/operators/compact_change.py)."""
        if self.casts:
            return self.process(batch)
        if self._make_compact is not None:  # (compact_later: the keys' code made at the first batch)
            make, self._make_compact = self._make_compact, None
            self._keys = make()  # the two keys in one call (engine/operators/compact_keys.py)
        decode = self.decode
        events: List[Union[dict, tuple]] = []
        deads: List[DeadLetter] = []
        while True:  # the usual batch: one call per event, each decoded in place
            done = len(events) + len(deads)  # (each event gives an event or a dead letter)
            if done == len(batch):
                return events, deads
            try:
                for event in batch[done:] if done else batch:
                    events.append(decode(event, True))
            except Exception:  # noqa: BLE001 - that event is as it came: a copy's decode says what is wrong
                event = batch[len(events) + len(deads)]
                try:
                    events.append(decode(event))
                except Exception as exc:  # noqa: BLE001 - that event's failure, as in process
                    deads.append(DeadLetter(event, self.step_id, describe(exc)))

    # one event --------------------------------------------------------------------------

    def decode(self, event, owned: bool = False) -> Union[dict, tuple]:
        """The flat change event of one Debezium record; DecodeError (or, for a case nobody
        foresaw, any exception: ``process`` dead-letters it) saying what is wrong.

        ``owned``: the rows are the event's own, converted in place as the last thing that may
        fail (a row's columns all or none), so that a failure leaves the event as it came; any
        failure then, or a shape the in-place code does not take, raises (``process_owned``
        decodes copies instead, with their reason; with ``fields`` casts, it never passes ``owned``)."""
        if type(event) is not dict:
            raise DecodeError(f"not a Debezium change event: {_kind(event)}, not an object")
        try:  # the usual record: {"schema": ..., "payload": ...}
            payload, schema = event["payload"], event["schema"]
        except KeyError:
            payload, schema = event.get("payload", event), None
        if "op" in event:  # a record without the envelope (whatever its field named payload)
            payload, schema = event, None
        elif type(payload) is not dict:
            raise DecodeError(f"not a Debezium change event: 'payload' is {_kind(payload)}, not an object")
        try:  # the usual record has every field: read as payload[...], ~100 instructions less each
            op, before, after = payload["op"], payload["before"], payload["after"]
        except KeyError:
            op, before, after = payload.get("op"), payload.get("before"), payload.get("after")
        if type(op) is not str or op not in OPS:
            if op is None:
                raise DecodeError("not a Debezium change event: missing 'op'" + _what(payload))
            raise DecodeError(f"unsupported Debezium operation {shown(op, 20)} (expected c, u, d, r, t or m)")
        if (before is not None and type(before) is not dict) or (after is not None and type(after) is not dict):
            which, row = ("before", before) if before is not None and type(before) is not dict else ("after", after)
            raise DecodeError(f"'{which}' is {_kind(row)}, not an object")
        if after is None and op in NEEDS_AFTER:
            raise DecodeError(f"a change with op '{op}' and no 'after' row")
        if schema is self._good_schema:  # the usual event: no call (no schema: unused)
            before_convs, after_convs = self._good_converters
        elif schema is not None:
            before_convs, after_convs = self._row_schemas(schema)
        if owned:  # converted in place at the end (no schema: the rows as they are, nothing changes them)
            pass
        elif schema is not None:
            raw_before = before
            if before is not None:
                try:  # the row's code (RowConverters); on any failure, the loop tells what failed
                    before = before_convs.row(before)
                except Exception:  # noqa: BLE001
                    before = self._decode_row(before, "before", before_convs)
            if after is not None and raw_before is not None and before is not None and before_convs is after_convs:
                try:  # reuses before's unchanged values
                    after = after_convs.after(after, raw_before, before)
                except Exception:  # noqa: BLE001
                    after = self._decode_after(after, after_convs, raw_before, before)
            elif after is not None:
                try:
                    after = after_convs.row(after)
                except Exception:  # noqa: BLE001
                    after = self._decode_row(after, "after", after_convs)
        else:
            before = None if before is None else dict(before)
            after = None if after is None else dict(after)
        try:
            source, transaction, ts_ms = payload["source"], payload["transaction"], payload["ts_ms"]
        except KeyError:
            source, transaction, ts_ms = payload.get("source"), payload.get("transaction"), payload.get("ts_ms")
        if type(source) is not dict or type(transaction) not in _OBJECT_OR_NULL:
            source = _object(payload, "source") or {}
            transaction = _object(payload, "transaction")
        try:
            table, lsn = source["table"], source["lsn"]  # (two values a statement: no tuple)
            tx_id, at = source["txId"], source["ts_ms"]
        except KeyError:
            table, lsn, tx_id, at = source.get("table"), source.get("lsn"), source.get("txId"), source.get("ts_ms")
        if (type(ts_ms) is not int or type(table) is not str or type(lsn) is not int or type(tx_id) is not int
                or type(at) is not int) and (type(ts_ms) not in _INT_OR_NULL or type(table) not in _TEXT_OR_NULL
                                             or type(lsn) not in _INT_OR_NULL or type(tx_id) not in _ID_OR_NULL
                                             or type(at) not in _INT_OR_NULL):  # the usual types, else one test
            _scalar(payload, "ts_ms", "ts_ms", (int,))
            _scalar(source, "table", "source.table", (str,))
            _scalar(source, "lsn", "source.lsn", (int,))
            _scalar(source, "txId", "source.txId", (int, str))
            _scalar(source, "ts_ms", "source.ts_ms", (int,))
        if tx_id is None and transaction is not None:
            tx_id = _scalar(transaction, "id", "transaction.id", (int, str))
            if tx_id is not None:
                tx_id = str(tx_id).split(":", 1)[0]
        if tx_id != self._tx_id:  # (a transaction's changes come in a row: the text of its id made once)
            self._tx_id, self._tx_text = tx_id, None if tx_id is None else str(tx_id)
        message = _object(payload, "message") if op == "m" else None  # (may fail: before any row changes)
        if owned and schema is not None:  # (process_owned: never with casts)
            if before is None:  # the last thing that may fail: all of a row's columns or none
                if after is not None:
                    after_convs.in_place(after)
            elif after is None:
                before_convs.in_place(before)
            elif before_convs is after_convs and before is not after:
                before_convs.both(before, after)
            else:
                raise DecodeError("two row schemas: decoded from copies")
        if owned and self._keys is not None and op in COMPACT_OPS and type(table) is str \
                and self._tx_text is not None and source.get("snapshot") in STREAMING:
            try:  # (the keys read only KEY_FIELDS)
                row, group = self._keys(table, before, after)
                return (row, op, before, after, table, lsn, ts_ms, at, self._tx_text, group)
            except Exception:  # noqa: BLE001 - a key that fails: the dict, which the merge dead-letters with why
                pass
        out = {"op": op, "before": before, "after": after, "source": source, "ts_ms": ts_ms,
               "transaction": transaction, "table": table, "tx_id": self._tx_text, "lsn": lsn, "source_ts_ms": at}
        if op == "m":  # a logical decoding message (pg_logical_emit_message): prefix and content
            out["message"] = message
        if self.casts:
            self._apply_casts(out)
        return out

    def compact_later(self, keys: Callable[[], Optional[KeysOfChange]]) -> None:
        """Give ``process_owned``'s usual changes as compact changes (engine/operators/compact_change.py)
        keyed with the row and group keys ``keys()`` makes at the first batch (None: dicts still):
        the compiler's call, when this step's only reader is a ``merge_transactions`` step that owns
        its input (its ``compact_keys``)."""
        self._make_compact = keys

    def compacts(self) -> bool:
        """Whether ``process_owned`` gives (or will give) compact changes."""
        return self._keys is not None or self._make_compact is not None

    def _row_schemas(self, schema) -> Tuple[RowConverters, RowConverters]:
        """The converters of the ``before`` and ``after`` row schemas of an envelope schema."""
        if schema is self._last_schema:  # decoded sources share one parsed schema per table
            if isinstance(self._last_converters, DecodeError):
                raise self._last_converters
            return self._last_converters
        found: Union[Tuple[RowConverters, RowConverters], DecodeError]
        try:
            found = self._find_row_schemas(schema)
        except DecodeError as exc:
            found = exc
        self._last_schema, self._last_converters, self._good_schema = schema, found, None
        if isinstance(found, DecodeError):
            raise found
        self._good_schema, self._good_converters = schema, found
        return found

    def _find_row_schemas(self, schema) -> Tuple[RowConverters, RowConverters]:
        before, after, before_path, after_path = row_schemas(schema)
        before_convs = self._compiled(before, before_path) if before is not None else NO_CONVERTERS
        after_convs = self._compiled(after, after_path) if after is not None else before_convs
        return (after_convs if before is None else before_convs), after_convs

    def _compiled(self, row_schema: dict, path: str) -> RowConverters:
        fields = row_schema.get("fields")
        if type(fields) is not list:
            return row_converters(fields, path)  # [] for none, else the reason
        name, version = row_schema.get("name"), row_schema.get("version")
        key = (name if type(name) is str else None, version if type(version) is int else None, len(fields))
        entries = self._cache.setdefault(key, [])
        for known, convs in entries:
            if known == fields:  # deep equality: a C-level walk, no serialisation
                return convs
        convs = row_converters(fields, path)
        entries.append((fields, convs))
        if len(entries) > 32:  # a schema changing all the time: keep the recent ones
            del entries[0]
        return convs

    def _decode_row(self, row: dict, which: str, convs: RowConverters) -> dict:
        """``row`` with every field converted."""
        out = dict(row)
        for key, convert in convs:
            value = out.get(key)
            if value is not None:
                try:
                    out[key] = convert(value)
                except Exception as exc:  # noqa: BLE001 - whatever the value does, it is this column's failure
                    self._failed(out, which, key, value, exc)
        return out

    def _decode_after(self, row: dict, convs: RowConverters, raw_before: dict, before: dict) -> dict:
        """An update's after image: each field its before image has unchanged (most of them)
        takes before's converted value, the others are converted."""
        out = dict(row)
        unchanged = raw_before.get
        for key, convert in convs:
            value = out.get(key)
            if value is not None:
                old = unchanged(key)  # (None when absent: never equal to a value)
                if old == value and type(old) is type(value):
                    out[key] = before[key]
                    continue
                try:
                    out[key] = convert(value)
                except Exception as exc:  # noqa: BLE001 - whatever the value does, it is this column's failure
                    self._failed(out, "after", key, value, exc)
        return out

    def _failed(self, out: dict, which: str, key: str, value, exc: Exception) -> None:
        """A column's value no converter takes: null (``on_error: null``), else DecodeError."""
        if not self.to_null:
            raise DecodeError(f"cannot decode field '{which}.{key}' value {shown(value)}: {describe(exc)}") from None
        out[key] = None

    def _apply_casts(self, out: dict) -> None:
        for path, type_name, convert in self.casts:
            node: Optional[dict] = out
            for key in path[:-1]:
                assert node is not None
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
            except Exception as exc:  # noqa: BLE001 - whatever the value does, it is this field's failure
                if self.to_null:
                    node[path[-1]] = None
                    continue
                raise DecodeError(f"cannot cast field '{'.'.join(path)}' value {shown(value)} to {type_name}: "
                                  f"{describe(exc)}") from None


def _object(parent: dict, key: str):
    """``parent[key]``: an object or null, else DecodeError."""
    value = parent.get(key)
    if value is not None and type(value) is not dict:
        raise DecodeError(f"'{key}' is {_kind(value)}, not an object")
    return value


def _scalar(parent: dict, key: str, path: str, kinds: tuple):
    """``parent[key]``: null or a value of one of ``kinds`` (never a boolean), else DecodeError."""
    value = parent.get(key)
    if value is not None and type(value) not in kinds:
        wanted = " or ".join("an integer" if k is int else "text" for k in kinds)
        raise DecodeError(f"'{path}' is {_kind(value)} {shown(value, 30)}, not {wanted}")
    return value


def _kind(value) -> str:
    if value is None:
        return "null"
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _what(payload: dict) -> str:
    if "status" in payload and "event_count" in payload:
        return " (a transaction metadata record: read the transaction topic without the debezium step)"
    if set(payload) <= {"ts_ms", "ts_us", "ts_ns"}:
        return " (a heartbeat)"
    return ""
