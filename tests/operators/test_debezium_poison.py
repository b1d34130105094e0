"""``debezium`` against hand-made Debezium 3.1 PostgreSQL records (JsonConverter,
with and without the schema; written here from the connector's documented shapes, not by the
simulator) and against malformed ones: every record is decoded correctly or dead-lettered
with a one-line reason, the dead letter carries the record as it arrived, nothing raises."""

import base64
import copy
import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.debezium import OPS, Debezium
from engine.operators.decode import Decode
from engine.records import RawBatch
from engine.values import INFINITY

UTC = timezone.utc
DEC = "org.apache.kafka.connect.data.Decimal"


def b64(unscaled: int) -> str:
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(length, "big", signed=True)).decode()


def column(name, kind, logical=None, optional=True, **parameters):
    schema = {"type": kind, "optional": optional, "field": name}
    if logical:
        schema.update(name=logical, version=1)
    if parameters:
        schema["parameters"] = {k.replace("_", "."): v for k, v in parameters.items()}
    return schema


COLUMNS = [
    column("id", "int32", optional=False),
    column("weight", "bytes", DEC, scale="2", connect_decimal_precision="10"),
    column("big", "bytes", DEC, scale="0", connect_decimal_precision="20"),
    column("ratio", "struct", "io.debezium.data.VariableScaleDecimal"),
    column("created", "int64", "io.debezium.time.MicroTimestamp"),
    column("scanned", "int64", "io.debezium.time.NanoTimestamp"),
    column("updated", "string", "io.debezium.time.ZonedTimestamp"),
    column("day", "int32", "io.debezium.time.Date"),
    column("doc", "string", "io.debezium.data.Json"),
    column("note", "string"),
]
COLUMNS[3]["fields"] = [column("scale", "int32", optional=False), column("value", "bytes", optional=False)]
VALUE = {"type": "struct", "fields": COLUMNS, "optional": True, "name": "tms.public.parcel.Value", "field": None}
SOURCE = {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source", "field": "source",
          "fields": [column(n, t) for n, t in [("version", "string"), ("connector", "string"), ("name", "string"),
                                              ("ts_ms", "int64"), ("snapshot", "string"), ("db", "string"),
                                              ("schema", "string"), ("table", "string"), ("txId", "int64"),
                                              ("lsn", "int64"), ("xmin", "int64")]]}
ENVELOPE = {"type": "struct", "optional": False, "name": "tms.public.parcel.Envelope", "version": 2, "fields": [
    {**VALUE, "field": "before"}, {**VALUE, "field": "after"}, SOURCE,
    {"type": "struct", "optional": True, "name": "event.block", "version": 1, "field": "transaction", "fields": [
        column("id", "string", optional=False), column("total_order", "int64", optional=False),
        column("data_collection_order", "int64", optional=False)]},
    column("op", "string", optional=False), column("ts_ms", "int64"), column("ts_us", "int64"), column("ts_ns", "int64")]}
ROW = {"id": 7, "weight": b64(230), "big": b64(98765432109876543210), "ratio": {"scale": 3, "value": b64(12345)},
       "created": 1529507596945104, "scanned": 1529507596945104123, "updated": "2026-11-02T08:00:00.5+02:00",
       "day": 20759, "doc": '{"n": 123456789012345678901234567890, "tags": ["a"]}', "note": "ring twice"}
TYPED = {"id": 7, "weight": Decimal("2.30"), "big": Decimal("98765432109876543210"), "ratio": Decimal("12.345"),
         "created": datetime(2018, 6, 20, 15, 13, 16, 945104, tzinfo=UTC),
         "scanned": datetime(2018, 6, 20, 15, 13, 16, 945104, tzinfo=UTC),
         "updated": datetime(2026, 11, 2, 6, 0, 0, 500000, tzinfo=UTC), "day": date(2026, 11, 2),
         "doc": {"n": 123456789012345678901234567890, "tags": ["a"]}, "note": "ring twice"}


def payload(op="c", before=None, after=None, snapshot="false", **extra):
    body = {"before": before, "after": after,
            "source": {"version": "3.1.2.Final", "connector": "postgresql", "name": "tms", "ts_ms": 1730534400000,
                       "snapshot": snapshot, "db": "tms", "sequence": '["24023119","24023128"]', "ts_us": 1730534400000000,
                       "ts_ns": 1730534400000000000, "schema": "public", "table": "parcel", "txId": 771,
                       "lsn": 24023128, "xmin": None},
            "transaction": {"id": "771:24023128", "total_order": 1, "data_collection_order": 1},
            "op": op, "ts_ms": 1730534400123, "ts_us": 1730534400123456, "ts_ns": 1730534400123456789}
    body.update(extra)
    return body


def enveloped(body, schema=ENVELOPE):
    return {"schema": schema, "payload": body}


def decode(events, debezium=None, **config):
    return Debezium("cdc", {**(debezium or {}), **config}, None).process(events)


def one(event, **config):
    oks, deads = decode([event], **config)
    assert [d.error for d in deads] == [] and len(oks) == 1
    return oks[0]


def dead(event, **config):
    pristine = copy.deepcopy(event)
    oks, deads = decode([event], **config)
    assert oks == [] and len(deads) == 1, oks
    assert deads[0].event is event and event == pristine  # as it arrived, untouched
    assert deads[0].error and "\n" not in deads[0].error and len(deads[0].error) < 300
    return deads[0].error


# --- valid records, both converter settings ---------------------------------------------------

@pytest.mark.parametrize("with_schema", [True, False])
@pytest.mark.parametrize("op,snapshot", [("c", "false"), ("r", "true"), ("r", "first"), ("r", "last"),
                                         ("r", "incremental"), ("u", "false")])
def test_documented_shapes_decode(with_schema, op, snapshot):
    before = {**ROW, "note": "old"} if op == "u" else None
    body = payload(op, before=before, after=ROW, snapshot=snapshot)
    out = one(enveloped(body) if with_schema else body)
    assert (out["op"], out["table"], out["tx_id"], out["lsn"], out["ts_ms"]) == (op, "parcel", "771", 24023128, 1730534400123)
    assert out["source"]["snapshot"] == snapshot
    if with_schema:
        assert out["after"] == TYPED and str(out["after"]["weight"]) == "2.30"
        if op == "u":
            assert out["before"] == {**TYPED, "note": "old"}
    else:
        assert out["after"] == ROW


def test_delete_truncate_and_message_records():
    deleted = one(enveloped(payload("d", before={"id": 7})))
    assert (deleted["op"], deleted["before"], deleted["after"]) == ("d", {"id": 7}, None)
    truncated = one(payload("t", transaction=None))
    assert (truncated["op"], truncated["before"], truncated["after"], truncated["tx_id"]) == ("t", None, None, "771")
    message = one({"op": "m", "ts_ms": 1, "source": {"table": "", "lsn": 5, "txId": None},
                   "message": {"prefix": "audit", "content": "aGVsbG8="}})
    assert message["message"] == {"prefix": "audit", "content": "aGVsbG8="} and message["tx_id"] is None


def test_tombstones_never_reach_cast_and_a_null_text_is_a_dead_letter():
    text = json.dumps(enveloped(payload(after=ROW))).encode()
    raw = RawBatch([text, None, b"null"], "tms.public.parcel[0]", offsets=[10, 11, 12])
    events, deads = Decode("parcels").process(raw)
    assert len(events) == 1 and [(d.origin, d.error) for d in deads] == [
        ("tms.public.parcel[0]@12", "expected a JSON object, got null")]
    assert one(events[0])["after"]["big"] == Decimal("98765432109876543210")


def test_a_record_read_by_decode_keeps_every_digit():
    """A 20+ digit number as the JSON number JsonConverter writes with decimal.format=NUMERIC."""
    schema = copy.deepcopy(ENVELOPE)
    after = {**ROW, "big": 123456789012345678901234567, "weight": 12.3}
    raw = RawBatch([json.dumps(enveloped(payload(after=after), schema)).encode()], "t", offsets=[0])
    events, deads = Decode("s").process(raw)
    out = one(events[0])["after"]
    assert out["big"] == Decimal("123456789012345678901234567") and str(out["weight"]) == "12.30"


# --- malformed envelopes ------------------------------------------------------------------------

def _schema_with(column_schema):
    value = {**VALUE, "fields": [COLUMNS[0], {**column_schema, "field": "x"}]}
    return {**ENVELOPE, "fields": [{**value, "field": "before"}, {**value, "field": "after"}] + ENVELOPE["fields"][2:]}


@pytest.mark.parametrize("event,reason", [
    ([1, 2], "not a Debezium change event: a list, not an object"),
    ({"payload": None, "schema": ENVELOPE}, "'payload' is null, not an object"),
    ({"payload": [], "schema": None}, "'payload' is a list, not an object"),
    (enveloped(payload(after=ROW), schema="abc"), "'schema' is a str, not an object"),
    (enveloped(payload(after=ROW), schema={"fields": [1]}), "schema.fields[0] is an int, not an object"),
    (enveloped(payload(after=ROW), schema={"fields": "abc"}), "schema.fields is a str, not a list"),
    (enveloped(payload(after=ROW), schema={"fields": [{"type": "struct"}]}), "schema.fields[0] has no 'field' name"),
    (enveloped(payload(after=ROW), schema={"fields": [{"field": "after", "fields": 5}]}), "schema.fields[0].fields is an int, not a list"),
    (enveloped(payload(after=ROW), schema={"fields": [{"field": "after", "fields": [None]}]}), "schema.fields[0].fields[0] is null, not an object"),
    (enveloped(payload(after={"x": "AA=="}), schema={"fields": [{"field": "after", "fields": [{"name": DEC, "parameters": {"scale": "2"}}]}]}),
     "schema.fields[0].fields[0] has no 'field' name"),
    (enveloped(payload(after={"x": "AA=="}), _schema_with({"type": "bytes", "name": DEC})), "schema.fields[0].fields[1] (Decimal) has no scale parameter"),
    (enveloped(payload(after={"x": "AA=="}), _schema_with({"type": "bytes", "name": DEC, "parameters": {"scale": "abc"}})),
     "(Decimal): the scale is not an integer: 'abc'"),
    (enveloped(payload(after={"x": "AA=="}), _schema_with({"type": "bytes", "name": DEC, "parameters": {"scale": "2.5"}})),
     "the scale is not an integer"),
    (enveloped(payload(after={"x": "AA=="}), _schema_with({"type": "bytes", "name": DEC, "parameters": {"scale": "99999"}})),
     "the scale 99999 is beyond +-16383"),
    (enveloped(payload(after={"x": "AA=="}), _schema_with({"type": "bytes", "name": ["x"]})), "schema.fields[0].fields[1].name is a list, not text"),
    (enveloped(payload(after={"x": [1]}), _schema_with({"type": "array", "items": "int"})), "schema.fields[0].fields[1].items is a str, not an object"),
    (payload(op=["c"]), "unsupported Debezium operation ['c']"),
    (payload(op={"op": "c"}), "unsupported Debezium operation {'op': 'c'}"),
    (payload(op="x"), "unsupported Debezium operation 'x'"),
    (payload(op="C"), "unsupported Debezium operation 'C'"),
    (payload(op=""), "unsupported Debezium operation ''"),
    (payload(op=5), "unsupported Debezium operation 5"),
    (payload(op=None), "not a Debezium change event: missing 'op'"),
    (payload("c", after=None), "a change with op 'c' and no 'after' row"),
    (payload("u", before={"id": 1}), "a change with op 'u' and no 'after' row"),
    (payload("r"), "a change with op 'r' and no 'after' row"),
    (payload("c", after="row"), "'after' is a str, not an object"),
    (payload("d", before=5), "'before' is an int, not an object"),
    (payload("c", after=ROW, source="s"), "'source' is a str, not an object"),
    (payload("c", after=ROW, transaction=[1]), "'transaction' is a list, not an object"),
    (payload("m", message="hello"), "'message' is a str, not an object"),
    (payload("c", after=ROW, ts_ms="abc"), "'ts_ms' is a str 'abc', not an integer"),
    (payload("c", after=ROW, ts_ms=1e20), "'ts_ms' is a float 1e+20, not an integer"),
    (payload("c", after=ROW, ts_ms=True), "'ts_ms' is a bool True, not an integer"),
    ({**payload("c", after=ROW), "source": {"table": 5, "lsn": 1}}, "'source.table' is an int 5, not text"),
    ({**payload("c", after=ROW), "source": {"table": "t", "lsn": "abc"}}, "'source.lsn' is a str 'abc', not an integer"),
    ({**payload("c", after=ROW), "source": {"table": "t", "txId": [1]}}, "'source.txId' is a list [1], not an integer or text"),
    ({**payload("c", after=ROW), "source": {"table": "t"}, "transaction": {"id": {"a": 1}}},
     "'transaction.id' is a dict {'a': 1}, not an integer or text"),
])
def test_malformed_envelopes_are_dead_lettered_with_what_is_wrong(event, reason):
    assert reason in dead(event)


@pytest.mark.parametrize("name,value,reason", [
    ("weight", "!!!!", "not base64 text"), ("weight", "", "empty bytes"), ("weight", {"a": 1}, "expected base64 text or a number"),
    ("weight", 123456789012345678.12, "more digits than a double holds at scale 2"),
    ("weight", True, "booleans are not numbers"),
    ("big", "A" * 200_000, "more than 65536 bytes"),
    ("ratio", {"scale": "2", "value": "AQ=="}, "the scale is not an integer"),
    ("ratio", {"scale": 10 ** 9, "value": "AQ=="}, "is beyond +-16383"),
    ("ratio", {"value": "AQ=="}, "expected {scale, value}"),
    ("created", 253402300800000000, "out of the representable range (years 1-9999)"),
    ("created", -62135596800000001, "out of the representable range"),
    ("created", 2 ** 63, "out of the representable range"),
    ("created", 2 ** 64 + 1, "out of the representable range"),
    ("created", "yesterday", "expected an integer, got str"),
    ("created", True, "expected an integer, got bool"),
    ("created", float("nan"), "expected an integer, got float"),
    ("scanned", 253402300800000000000, "out of the representable range"),
    ("updated", "2024-02-30T25:61:00Z", "not an ISO-8601 timestamp"),
    ("updated", "+10000-01-01T00:00:00Z", "not an ISO-8601 timestamp"),
    ("updated", "0001-01-01T00:00:00+01:00", "out of range (years 1 to 9999 in UTC)"),
    ("updated", 5, "expected ISO-8601 text, got int"),
    ("day", 10 ** 12, "out of the representable range"),
    ("day", "2024-13-45", "expected an integer, got str"),
    ("doc", "[" * 10_000 + "]" * 10_000, "nested deeper than 128 levels"),
    ("doc", "{not json", "malformed JSON"),
    ("doc", '{"v": NaN}', "NaN is not a JSON number"),
    ("doc", 42, "expected JSON text, got int"),
])
def test_a_column_no_converter_takes_names_the_column_and_the_value(name, value, reason):
    error = dead(enveloped(payload(after={**ROW, name: value})))
    assert error.startswith(f"cannot decode field 'after.{name}' value ") and reason in error, error


@pytest.mark.parametrize("name,value,expected", [
    ("created", -62135596800000000, datetime(1, 1, 1, tzinfo=UTC)),
    ("created", 253402300799999999, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("created", 9223372036825200000, INFINITY),   # PostgreSQL 'infinity' (docs/debezium.md)
    ("scanned", -62135596800000000000, datetime(1, 1, 1, tzinfo=UTC)),
    ("scanned", 253402300799999999999, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("updated", "9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("updated", "infinity", INFINITY),
    ("big", b64(10 ** 20 - 1), Decimal("99999999999999999999")),
    ("big", b64(-(10 ** 5000) + 1), Decimal(f"-{'9' * 5000}")),           # NUMERIC has no precision limit
    ("big", 99999999999999999999, Decimal("99999999999999999999")),        # decimal.format=NUMERIC
    ("weight", 12.3, Decimal("12.30")),
    ("weight", 1234567890123.45, Decimal("1234567890123.45")),             # 15 digits: exact through a double
    ("ratio", {"scale": 0, "value": b64(-(2 ** 70))}, Decimal(-(2 ** 70))),
    ("doc", '[-99999999999999999999, 1.5]', [-99999999999999999999, 1.5]),
])
def test_edge_values_that_fit_decode_exactly(name, value, expected):
    got = one(enveloped(payload(after={**ROW, name: value})))["after"][name]
    assert got == expected and type(got) is type(expected)
    if isinstance(expected, Decimal):
        assert str(got) == str(expected)


def test_a_broken_schema_shared_by_many_records_costs_one_check():
    schema = {"fields": [1]}
    events = [enveloped(payload(after=ROW), schema) for _ in range(50)]
    oks, deads = decode(events)
    assert oks == [] and {d.error for d in deads} == {"schema.fields[0] is an int, not an object"} and len(deads) == 50


def test_wrong_types_in_every_payload_field_never_raise():
    junk = [None, True, 0, -1, 2 ** 70, 1.5, float("nan"), "", "x", [], [1], {}, {"a": 1}]
    base = payload("u", before=dict(ROW), after=dict(ROW))
    for key in list(base) + [f"source.{k}" for k in base["source"]] + [f"transaction.{k}" for k in base["transaction"]]:
        for value in junk:
            event = copy.deepcopy(base)
            parent, _, leaf = key.rpartition(".")
            (event[parent] if parent else event)[leaf] = value
            for record in (event, enveloped(event)):
                pristine = copy.deepcopy(record)
                oks, deads = decode([record])
                assert len(oks) + len(deads) == 1 and record == pristine
                if deads:
                    assert deads[0].event is record and deads[0].error


# --- properties ---------------------------------------------------------------------------------

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    | st.sampled_from(["c", "u", "d", "r", "t", "m", "AA==", "!!", "2024-02-30T00:00:00Z", "[" * 200, "{}", "NaN"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["field", "fields", "name", "scale",
                                                                                 "value", "type", "parameters"]), inner, max_size=3),
    max_leaves=6)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


@st.composite
def mutated_records(draw):
    op = draw(st.sampled_from(["c", "u", "d", "r", "t"]))
    body = payload(op, before=dict(ROW) if op in "ud" else None, after=dict(ROW) if op in "cur" else None)
    record = copy.deepcopy(enveloped(body) if draw(st.booleans()) else body)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(record) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(junk)
    return record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(mutated_records(), min_size=1, max_size=6), st.booleans())
def test_mutated_records_are_decoded_or_dead_lettered_never_raised(batch, to_null):
    pristine = copy.deepcopy(batch)
    oks, deads = decode(batch, **({"on_error": "null"} if to_null else {}))
    assert len(oks) + len(deads) == len(batch)
    assert batch == pristine  # nothing modified in place
    ids = [id(r) for r in batch]
    assert all(id(d.event) in ids and d.error and "\n" not in d.error for d in deads)
    for out in oks:
        assert out["op"] in OPS
        assert all(out[k] is None or type(out[k]) is dict for k in ("before", "after", "transaction"))
        assert type(out["source"]) is dict
        assert out["table"] is None or type(out["table"]) is str
        assert out["tx_id"] is None or type(out["tx_id"]) is str
        assert all(out[k] is None or type(out[k]) is int for k in ("ts_ms", "lsn"))
        if out["op"] in ("c", "u", "r"):
            assert type(out["after"]) is dict
