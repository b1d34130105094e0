"""Encode TMS row changes the way Debezium's PostgreSQL connector + JsonConverter does.

Connector settings emulated (Debezium 3.1.x defaults unless said otherwise):
``topic.prefix=tms``, ``decimal.handling.mode=precise``, ``time.precision.mode=adaptive``,
``provide.transaction.metadata=true``, ``tombstones.on.delete=true``, ``plugin.name=pgoutput``,
value converter ``org.apache.kafka.connect.json.JsonConverter`` with ``schemas.enable`` true
or false. docs/tms.md lists the rules and the pages/sources they were checked against.

Python values of a row (what the simulator keeps): ``str`` (text, char, uuid), ``int``
(smallint/integer/bigint), ``Decimal`` (numeric, already at the column's scale),
``datetime`` aware UTC (timestamptz), naive ``datetime`` (timestamp), ``date``, ``dict``
(jsonb), ``None``.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Dict, Optional

from engine.simulation.schema import Column, Table

CONNECTOR_VERSION = "3.1.3.Final"
TOPIC_PREFIX = "tms"
DATABASE = "tms"
PG_SCHEMA = "public"

TIMESTAMPTZ_FRACTION = 6     # a timestamptz column without (p) has precision 6

EPOCH = _EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_DATE = date(1970, 1, 1)


# --- one value ------------------------------------------------------------------------------

def decimal_to_base64(value: Decimal, scale: int) -> str:
    """Connect ``Decimal``: unscaled value as big-endian two's complement (Java
    ``BigInteger.toByteArray``: the shortest form, at least one byte), base64 in JSON."""
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {scale} decimals")
    unscaled = int(scaled)
    bits = unscaled.bit_length() if unscaled >= 0 else (~unscaled).bit_length()
    raw = unscaled.to_bytes(bits // 8 + 1, "big", signed=True)
    return base64.b64encode(raw).decode("ascii")


def zoned_timestamp(value: datetime, fraction: int = TIMESTAMPTZ_FRACTION) -> str:
    """``io.debezium.time.ZonedTimestamp``: ISO-8601 in UTC with a ``Z`` and exactly
    ``fraction`` fractional digits, the column's precision (6 for a plain ``timestamptz``):
    ``PostgresValueConverter.convertTimestampWithZone`` passes ``column.scale()`` to
    ``ZonedTimestamp.toIsoString``, whose formatter pads the fraction to that width
    (DBZ-5996/DBZ-6163, Debezium >= 2.2), e.g. ``2024-03-04T05:03:34.000000Z``."""
    utc = value.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction > 0:
        text += "." + f"{utc.microsecond:06d}{'0' * 3}"[:fraction]
    return text + "Z"


def jsonb_text(value: Any) -> str:
    """PostgreSQL's text output of a jsonb value: ``", "`` and ``": "`` separators and object
    keys ordered by length, then bytewise (jsonb's storage order)."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
        return "{" + ", ".join(json.dumps(k) + ": " + jsonb_text(v) for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def encode_value(column: Column, value: Any) -> Any:
    """The JSON value Debezium writes for one column."""
    if value is None:
        return None
    t = column.pg_type
    numeric = column.numeric_scale
    if numeric is not None:
        return decimal_to_base64(value, numeric[1])
    if t == "timestamptz":
        return zoned_timestamp(value)
    if t == "timestamp":          # io.debezium.time.MicroTimestamp: micros since the epoch
        delta = value - _EPOCH_NAIVE
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if t == "date":               # io.debezium.time.Date: days since the epoch
        return (value - _EPOCH_DATE).days
    if t == "jsonb":              # io.debezium.data.Json: the document as text
        return jsonb_text(value)
    return value                  # uuid / text / char / integers


def plain_value(column: Column, value: Any) -> Any:
    """The value in the ground-truth tables (plain JSON): decimals as strings at the column's
    scale, timestamptz ISO-8601 UTC with ``Z``, timestamp ISO-8601 without zone, date
    ISO-8601, jsonb as the JSON document itself."""
    if value is None:
        return None
    t = column.pg_type
    if t.startswith("numeric("):
        return str(value)
    if t == "timestamptz":
        return zoned_timestamp(value)
    if t == "timestamp":
        return value.isoformat()
    if t == "date":
        return value.isoformat()
    return value


def encode_row(table: Table, row: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if row is None:
        return None
    return {c.name: encode_value(c, row[c.name]) for c in table.columns}


def plain_row(table: Table, row: Dict[str, Any]) -> Dict[str, Any]:
    return {c.name: plain_value(c, row[c.name]) for c in table.columns}


# --- Connect schemas (schemas.enable=true) ---------------------------------------------------

def _named(type_: str, optional: bool, name: str, parameters: Optional[dict] = None) -> dict:
    schema = {"type": type_, "optional": optional, "name": name, "version": 1}
    if parameters is not None:
        schema["parameters"] = parameters
    return schema


def column_schema(column: Column) -> dict:
    t, opt = column.pg_type, column.nullable
    numeric = column.numeric_scale
    if numeric is not None:
        precision, scale = numeric
        schema = _named("bytes", opt, "org.apache.kafka.connect.data.Decimal",
                        {"scale": str(scale), "connect.decimal.precision": str(precision)})
    elif t == "timestamptz":
        schema = _named("string", opt, "io.debezium.time.ZonedTimestamp")
    elif t == "timestamp":
        schema = _named("int64", opt, "io.debezium.time.MicroTimestamp")
    elif t == "date":
        schema = _named("int32", opt, "io.debezium.time.Date")
    elif t == "uuid":
        schema = _named("string", opt, "io.debezium.data.Uuid")
    elif t == "jsonb":
        schema = _named("string", opt, "io.debezium.data.Json")
    elif t == "smallint":
        schema = {"type": "int16", "optional": opt}
    elif t == "integer":
        schema = {"type": "int32", "optional": opt}
    elif t == "bigint":
        schema = {"type": "int64", "optional": opt}
    elif t == "text" or t.startswith("char("):
        schema = {"type": "string", "optional": opt}
    else:  # pragma: no cover - the model only uses the types above
        raise ValueError(f"unsupported column type {t}")
    if column.default is not None:
        if numeric is not None:
            assert isinstance(column.default, (Decimal, int, float, str)), column.default
            schema["default"] = decimal_to_base64(Decimal(column.default), numeric[1])
        elif t == "jsonb":
            schema["default"] = jsonb_text(column.default)
        else:
            schema["default"] = column.default
    schema["field"] = column.name
    return schema


def _plain(type_: str, optional: bool, field: str) -> dict:
    return {"type": type_, "optional": optional, "field": field}


SOURCE_SCHEMA: dict = {
    "type": "struct",
    "fields": [
        _plain("string", False, "version"),
        _plain("string", False, "connector"),
        _plain("string", False, "name"),
        _plain("int64", False, "ts_ms"),
        {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
         "parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,"
                                   "last,false,incremental"},
         "default": "false", "field": "snapshot"},
        _plain("string", False, "db"),
        _plain("string", True, "sequence"),
        _plain("int64", True, "ts_us"),
        _plain("int64", True, "ts_ns"),
        _plain("string", False, "schema"),
        _plain("string", False, "table"),
        _plain("int64", True, "txId"),
        _plain("int64", True, "lsn"),
        _plain("int64", True, "xmin"),
    ],
    "optional": False,
    "name": "io.debezium.connector.postgresql.Source",
    "version": 1,
    "field": "source",
}

TRANSACTION_BLOCK_SCHEMA: dict = {
    "type": "struct",
    "fields": [
        _plain("string", False, "id"),
        _plain("int64", False, "total_order"),
        _plain("int64", False, "data_collection_order"),
    ],
    "optional": True,
    "name": "event.block",
    "version": 1,
    "field": "transaction",
}

TRANSACTION_VALUE_SCHEMA: dict = {
    "type": "struct",
    "fields": [
        _plain("string", False, "status"),
        _plain("string", False, "id"),
        _plain("int64", True, "event_count"),
        {"type": "array",
         "items": {"type": "struct",
                   "fields": [_plain("string", False, "data_collection"),
                              _plain("int64", False, "event_count")],
                   "optional": True, "name": "event.collection", "version": 1},
         "optional": True, "field": "data_collections"},
        _plain("int64", False, "ts_ms"),
    ],
    "optional": False,
    "name": "io.debezium.connector.common.TransactionMetadataValue",
    "version": 1,
}


def envelope_schema(table: Table) -> dict:
    value_name = f"{TOPIC_PREFIX}.{PG_SCHEMA}.{table.name}.Value"
    fields = [column_schema(c) for c in table.columns]

    def value(field: str) -> dict:
        return {"type": "struct", "fields": fields, "optional": True, "name": value_name,
                "field": field}

    return {
        "type": "struct",
        "fields": [
            value("before"),
            value("after"),
            SOURCE_SCHEMA,
            TRANSACTION_BLOCK_SCHEMA,
            _plain("string", False, "op"),
            _plain("int64", True, "ts_ms"),
            _plain("int64", True, "ts_us"),
            _plain("int64", True, "ts_ns"),
        ],
        "optional": False,
        "name": f"{TOPIC_PREFIX}.{PG_SCHEMA}.{table.name}.Envelope",
        "version": 2,
    }


# --- records --------------------------------------------------------------------------------

def change_payload(table: Table, op: str, before: Optional[dict], after: Optional[dict], *,
                   tx_id: int, lsn: int, last_commit_lsn: Optional[int], commit_us: int,
                   emit_us: int, total_order: Optional[int] = None,
                   data_collection_order: Optional[int] = None,
                   snapshot: str = "false") -> dict:
    """One change event value (``payload``), fields in Debezium's order.

    Streaming (``snapshot="false"``): ``commit_us`` is the commit time, ``total_order`` and
    ``data_collection_order`` fill the ``transaction`` block. Snapshot read (``op="r"``,
    ``snapshot`` one of ``first``/``first_in_data_collection``/``true``/
    ``last_in_data_collection``/``last``): ``commit_us`` is the time the row was read, there is
    no ``transaction`` block (null), ``lsn`` is the snapshot's start position and
    ``last_commit_lsn`` is None (``source.sequence`` ``[null,"<lsn>"]``)."""
    last = None if last_commit_lsn is None else str(last_commit_lsn)
    return {
        "before": encode_row(table, before),
        "after": encode_row(table, after),
        "source": {
            "version": CONNECTOR_VERSION,
            "connector": "postgresql",
            "name": TOPIC_PREFIX,
            "ts_ms": commit_us // 1000,
            "snapshot": snapshot,
            "db": DATABASE,
            "sequence": json.dumps([last, str(lsn)], separators=(",", ":")),
            "ts_us": commit_us,
            "ts_ns": commit_us * 1000,
            "schema": PG_SCHEMA,
            "table": table.name,
            "txId": tx_id,
            "lsn": lsn,
            "xmin": None,
        },
        "transaction": None if total_order is None else {
            "id": f"{tx_id}:{lsn}",
            "total_order": total_order,
            "data_collection_order": data_collection_order,
        },
        "op": op,
        "ts_ms": emit_us // 1000,
        "ts_us": emit_us,
        "ts_ns": emit_us * 1000,
    }


def transaction_payload(status: str, tx_id: int, lsn: int, ts_ms: int,
                        counts: Optional[Dict[str, int]] = None) -> dict:
    """A record of the ``<prefix>.transaction`` topic. ``counts``: events per table (END)."""
    return {
        "status": status,
        "id": f"{tx_id}:{lsn}",
        "event_count": None if counts is None else sum(counts.values()),
        "data_collections": None if counts is None else [
            {"data_collection": f"{PG_SCHEMA}.{name}", "event_count": n}
            for name, n in counts.items()],
        "ts_ms": ts_ms,
    }


def wrap(schema: Optional[dict], payload: dict) -> Any:
    """JsonConverter output: ``{"schema", "payload"}`` with schemas.enable, else the payload."""
    return payload if schema is None else {"schema": schema, "payload": payload}


def dumps(value: Any) -> str:
    """One JSON Lines line (compact, like JsonConverter; ``null`` for a tombstone)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
