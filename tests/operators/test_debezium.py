"""``debezium``: Debezium PostgreSQL change events (JsonConverter output) decoded
into typed row changes. Fixtures in tests/fixtures/debezium/: the ``customers_*`` events are the
examples of Debezium's PostgreSQL connector documentation ("Change event values", "update",
"delete", "truncate" events); ``shipment_*`` carry one column of every logical type, encoded as
the documentation's "Data type mappings" tables describe."""

import base64
import copy
import json
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from engine.operators.debezium import Debezium, decimal_bytes, variable_scale_decimal
from engine.values import INFINITY

FIXTURES = Path(__file__).parent.parent / "fixtures" / "debezium"
UTC = timezone.utc


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def decode(events, debezium=None, **config):
    step = Debezium("cdc", {**(debezium or {}), **config}, None)
    return step.process(events if isinstance(events, list) else [events])


def one(event, **config):
    oks, deads = decode(event, **config)
    assert [d.error for d in deads] == []
    assert len(oks) == 1
    return oks[0]


def b64(unscaled):
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(length, "big", signed=True)).decode()


# --- envelopes --------------------------------------------------------------------------------

def test_documented_create_event_with_schema_keeps_op_before_after_source():
    out = one(fixture("customers_create_with_schema"))
    assert out["op"] == "c" and out["before"] is None
    assert out["after"] == {"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
    assert out["source"]["connector"] == "postgresql" and out["source"]["snapshot"] is True
    assert (out["table"], out["tx_id"], out["lsn"], out["ts_ms"]) == ("customers", "555", 24023128, 1559033904863)
    assert out["transaction"] is None
    assert set(out) == {"op", "before", "after", "source", "ts_ms", "transaction", "table", "tx_id", "lsn",
                        "source_ts_ms"}
    assert out["source_ts_ms"] == out["source"]["ts_ms"]  # the commit time


def test_documented_update_without_schema_has_the_key_only_before():
    out = one(fixture("customers_update_payload"))
    assert out["op"] == "u"
    assert out["before"] == {"id": 1}
    assert out["after"]["first_name"] == "Anne Marie"
    assert (out["tx_id"], out["ts_ms"]) == ("556", 1465584025523)


def test_documented_delete_has_before_only():
    out = one(fixture("customers_delete_payload"))
    assert (out["op"], out["before"], out["after"], out["lsn"]) == ("d", {"id": 1}, None, 46523128)


def test_truncate_has_neither_before_nor_after():
    out = one(fixture("customers_truncate_payload"))
    assert (out["op"], out["before"], out["after"], out["table"]) == ("t", None, None, "customers")


def test_snapshot_read_op_r():
    event = fixture("customers_create_with_schema")
    event["payload"]["op"] = "r"
    assert one(event)["op"] == "r"


def test_schema_null_with_payload_is_schemaless():
    """JsonConverter with schemas.enable=true but no schema writes ``"schema": null``."""
    out = one({"schema": None, "payload": fixture("customers_update_payload")})
    assert out["op"] == "u" and out["after"]["id"] == 1


def test_transaction_block_is_kept_and_gives_tx_id_when_source_has_none():
    payload = fixture("customers_update_payload")
    del payload["source"]["txId"]
    payload["transaction"] = {"id": "571:53195832", "total_order": 1, "data_collection_order": 1}
    out = one(payload)
    assert out["transaction"] == {"id": "571:53195832", "total_order": 1, "data_collection_order": 1}
    assert out["tx_id"] == "571"


def test_input_event_is_not_modified():
    event = fixture("shipment_update_with_schema")
    pristine = copy.deepcopy(event)
    one(event, fields={"source.ts_ms": "timestamp(ms)", "after.note": "str"})
    assert event == pristine


@pytest.mark.parametrize("event,reason", [
    (fixture("heartbeat"), "not a Debezium change event: missing 'op' (a heartbeat)"),
    (fixture("transaction_begin"), "not a Debezium change event: missing 'op' (a transaction metadata record"),
    ({"order_id": 7, "status": "NEW"}, "not a Debezium change event: missing 'op'"),
    ({"payload": "x", "schema": None}, "not a Debezium change event: 'payload' is a str, not an object"),
    ({"op": "x", "after": {}}, "unsupported Debezium operation 'x'"),
    ({"op": "c", "after": [1, 2]}, "'after' is a list, not an object"),
])
def test_non_envelopes_are_dead_lettered_with_the_reason(event, reason):
    oks, deads = decode([event, fixture("customers_update_payload")])
    assert len(oks) == 1 and oks[0]["op"] == "u"
    assert len(deads) == 1 and deads[0].error.startswith(reason)
    assert deads[0].event is event and deads[0].step == "cdc"


def test_message_event_keeps_its_message():
    payload = {"op": "m", "source": {"table": "", "lsn": 46523128}, "ts_ms": 1559033904961,
               "message": {"prefix": "foo", "content": "Ymfy"}}
    out = one(payload)
    assert out["message"] == {"prefix": "foo", "content": "Ymfy"} and out["before"] is None


# --- every logical type, with the schema -------------------------------------------------------

@pytest.fixture(scope="module")
def shipment():
    return one(fixture("shipment_update_with_schema"))


@pytest.mark.parametrize("column,expected", [
    ("weight_kg", Decimal("2.30")),                   # Decimal scale 2, "AOY=" = 0x00E6 = 230
    ("balance", Decimal("-12.35")),                   # two's complement negative
    ("big", Decimal("12345678901234567890.1234567890")),  # 30 digits: beyond the default 28-digit context
    ("fee", Decimal("-0.05")),
    ("ratio", Decimal("12.345")),                     # VariableScaleDecimal {scale: 3, value: 12345}
    ("ship_date", date(2026, 11, 2)),                 # io.debezium.time.Date: days since the epoch
    ("planned_at", datetime(2018, 6, 20, 15, 13, 16, 945104, tzinfo=UTC)),  # the documented MicroTimestamp
    ("loaded_at", datetime(2018, 6, 20, 15, 13, 16, 945000, tzinfo=UTC)),   # Timestamp (ms)
    ("scanned_at", datetime(2018, 6, 20, 15, 13, 16, 945104, tzinfo=UTC)),  # NanoTimestamp, truncated to us
    ("departed_at", datetime(2026, 11, 2, 6, 0, 0, 500000, tzinfo=UTC)),    # ZonedTimestamp +02:00 -> UTC
    ("window_start", time(13, 53, 16, 945104)),       # MicroTime
    ("window_end", time(18, 30)),                     # Time (ms)
    ("cutoff", time(9, 15, 30, tzinfo=UTC)),          # ZonedTime 10:15:30+01:00 -> UTC
    ("tracking_id", "2f1e5c1a-6b1d-4a39-9c55-0d4c2a9e7b10"),  # Uuid
    ("attributes", {"hazmat": False, "dims": [120, 80, 95]}),  # Json object
    ("labels", ["eu", "priority"]),                   # Json array
    ("status", "PLANNED"),                            # Enum
    ("transit", 90061000000),                         # MicroDuration stays microseconds
    ("fragile", True), ("temperature", 4.5), ("note", "ring twice"), ("id", 5),
    ("photo", "AQID/w=="),                            # bytea stays base64 text
    ("readings", [Decimal("21.5"), None, Decimal("-0.3")]),  # array of Decimal
    ("stops", [3, 1, 2]),
    ("valid_until", INFINITY),  # PostgreSQL 'infinity' (docs/debezium.md)
])
def test_each_logical_type_is_decoded_exactly(shipment, column, expected):
    value = shipment["after"][column]
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, Decimal):
        assert str(value) == str(expected)  # same scale, not only the same number


def test_before_is_decoded_too_and_nulls_stay_null(shipment):
    assert shipment["before"]["weight_kg"] == Decimal("1.99")
    assert shipment["before"]["status"] == "DRAFT"
    assert shipment["before"]["planned_at"] is None and shipment["before"]["valid_until"] is None
    assert shipment["transaction"]["id"] == "571:53195832" and shipment["tx_id"] == "571"


def test_delete_with_schema_decodes_before_and_has_no_after():
    out = one(fixture("shipment_delete_with_schema"))
    assert out["op"] == "d" and out["after"] is None
    assert out["before"]["id"] == 5 and out["before"]["weight_kg"] is None


@pytest.mark.parametrize("unscaled,scale,expected", [
    (230, 2, "2.30"), (-230, 2, "-2.30"), (-1, 0, "-1"), (0, 3, "0.000"), (127, 0, "127"), (128, 0, "128"),
    (-128, 0, "-128"), (-129, 0, "-129"), (10 ** 40 + 7, 5, "100000000000000000000000000000000000.00007"),
])
def test_decimal_bytes_round_trip(unscaled, scale, expected):
    assert str(decimal_bytes(scale)(b64(unscaled))) == expected


def test_decimal_known_encodings():
    assert decimal_bytes(2)("AOY=") == Decimal("2.30")
    assert decimal_bytes(0)("/w==") == Decimal("-1")       # 0xFF
    assert decimal_bytes(2)(12.3) == Decimal("12.30")      # JsonConverter decimal.format=NUMERIC
    assert variable_scale_decimal({"scale": 0, "value": "AQ=="}) == Decimal("1")
    assert str(variable_scale_decimal({"scale": 4, "value": b64(-123456789)})) == "-12345.6789"
    with pytest.raises(ValueError, match="expected \\{scale, value\\}"):
        variable_scale_decimal({"value": "AQ=="})


def test_connect_time_types_and_json_scalars():
    schema = {"type": "struct", "name": "s.public.t.Envelope", "fields": [
        {"field": "after", "type": "struct", "name": "s.public.t.Value", "fields": [
            {"field": "d", "type": "int32", "name": "org.apache.kafka.connect.data.Date", "version": 1},
            {"field": "t", "type": "int64", "name": "org.apache.kafka.connect.data.Time", "version": 1},
            {"field": "ts", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1},
            {"field": "nt", "type": "int64", "name": "io.debezium.time.NanoTime", "version": 1},
            {"field": "j", "type": "string", "name": "io.debezium.data.Json", "version": 1},
            {"field": "neg", "type": "int64", "name": "io.debezium.time.MicroTimestamp", "version": 1},
            {"field": "ninf", "type": "int64", "name": "io.debezium.time.Timestamp", "version": 1},
            {"field": "zinf", "type": "string", "name": "io.debezium.time.ZonedTimestamp", "version": 1}]}]}
    after = {"d": -1, "t": 3_600_000, "ts": 1_700_000_000_123, "nt": 1_000_000_999, "j": "42", "neg": -1,
             "ninf": -9223372036832400000, "zinf": "-infinity"}
    out = one({"schema": schema, "payload": {"op": "c", "after": after, "source": {}}})["after"]
    assert out["d"] == date(1969, 12, 31)
    assert out["t"] == time(1, 0)
    assert out["ts"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert out["nt"] == time(0, 0, 1, 0)
    assert out["j"] == 42
    assert out["neg"] == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert out["ninf"] == datetime.min.replace(tzinfo=UTC) and out["zinf"] == datetime.min.replace(tzinfo=UTC)


def test_a_bad_value_dead_letters_with_the_field_and_value():
    event = fixture("shipment_update_with_schema")
    event["payload"]["after"]["weight_kg"] = "not base64!"
    oks, deads = decode(event)
    assert oks == []
    assert deads[0].error.startswith("cannot decode field 'after.weight_kg' value 'not base64!': not base64 text")


def test_bad_value_with_on_error_null_sets_null():
    event = fixture("shipment_update_with_schema")
    event["payload"]["after"]["attributes"] = "{broken"
    out = one(event, on_error="null")
    assert out["after"]["attributes"] is None and out["after"]["weight_kg"] == Decimal("2.30")


def test_row_decoders_are_compiled_once_per_schema(monkeypatch):
    import engine.operators.debezium as module

    calls = []
    real = module.row_converters
    monkeypatch.setattr(module, "row_converters", lambda fields, path: calls.append(1) or real(fields, path))
    step = Debezium("cdc", {})
    events = [fixture("shipment_update_with_schema") for _ in range(5)]
    oks, deads = step.process(events)
    assert len(oks) == 5 and not deads
    assert len(calls) == 1  # before and after share the Value schema: one compilation for 5 events
    changed = fixture("shipment_update_with_schema")
    for field in changed["schema"]["fields"][:2]:  # a column changes type: a new decoder
        field["fields"][1] = {**field["fields"][1], "parameters": {"scale": "3"}}
    assert step.process([changed])[0][0]["after"]["weight_kg"] == Decimal("0.230")
    assert len(calls) == 2


def test_an_update_decodes_the_after_image_the_same_when_it_reuses_unchanged_before_values():
    event = fixture("shipment_update_with_schema")
    row = event["payload"]["after"]
    event["payload"]["before"] = dict(row, weight_kg="AQ==", status="DRAFT")  # two columns differ
    out = one(event)
    alone = one({**event, "payload": {**event["payload"], "before": None}})  # after decoded on its own
    assert out["after"] == alone["after"]
    assert [type(v) for v in out["after"].values()] == [type(v) for v in alone["after"].values()]
    assert out["before"]["weight_kg"] == Decimal("0.01") and out["after"]["weight_kg"] == Decimal("2.30")
    assert out["after"]["planned_at"] is out["before"]["planned_at"]  # unchanged: converted once


@pytest.mark.parametrize("text", [
    '{"id": 123456789012345678901234, "n": -12345678901234567}',  # jsonb numeric: stays exact
    '[-99999999999999999999, 1.5]', '{"a": [1, {"b": "c"}], "x": 0.1}', '"text"',
])
def test_json_columns_read_exactly_what_the_standard_library_reads(text):
    from engine.operators.debezium import json_text

    value = json_text(text)
    assert json.dumps(value) == json.dumps(json.loads(text))
    assert [type(v) for v in (value.values() if isinstance(value, dict) else [value])] == [
        type(v) for v in (json.loads(text).values() if isinstance(value, dict) else [json.loads(text)])]


@pytest.mark.parametrize("text,reason", [
    ("[NaN, 1.5]", "NaN is not a JSON number"),        # PostgreSQL's json and jsonb refuse NaN too
    ("[-Infinity]", "-Infinity is not a JSON number"),
    ("[" * 129 + "]" * 129, "nested deeper than 128 levels"),
    ("[" * 5000 + "]" * 5000, "nested deeper than 128 levels"),
    ("{not json", "malformed JSON"),
])
def test_json_columns_refuse_what_is_not_json_or_too_deep(text, reason):
    from engine.operators.debezium import json_text

    with pytest.raises(ValueError, match=reason):
        json_text(text)
