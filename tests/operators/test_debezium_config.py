"""``debezium`` without a Connect schema (hints, ``fields`` casts) and the step's configuration:
its options, its output fields, and its place in a validated topology."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from engine.binding import validate_text
from engine.errors import ConfigError
from engine.operators.debezium import Debezium
from engine.runtime.runner import RunOptions
from tests.operators.test_debezium import b64, decode, fixture, one

UTC = timezone.utc


# --- schemaless events: hints and field casts --------------------------------------------------

def schemaless(after, before=None, op="c"):
    return {"op": op, "before": before, "after": after, "source": {"table": "shipment", "txId": 9, "lsn": 1}, "ts_ms": 1}


def test_schemaless_values_stay_as_sent_without_casts():
    out = one(schemaless({"id": 1, "weight_kg": "AOY=", "planned_at": 1529507596945104}))
    assert out["after"] == {"id": 1, "weight_kg": "AOY=", "planned_at": 1529507596945104}


def test_schemaless_precise_decimal_cast_reads_base64_with_the_declared_scale():
    out = one(schemaless({"weight_kg": "AOY=", "ratio": {"scale": 3, "value": b64(12345)}}, before={"weight_kg": "+y0="}, op="u"),
              fields={"after.weight_kg": "decimal(10,2)", "after.ratio": "decimal(10,3)", "before.weight_kg": "decimal(10,2)"})
    assert out["after"]["weight_kg"] == Decimal("2.30") and out["before"]["weight_kg"] == Decimal("-12.35")
    assert out["after"]["ratio"] == Decimal("12.345")


def test_schemaless_string_and_double_decimal_modes():
    out = one(schemaless({"weight_kg": "2.3"}), debezium={"decimal": "string"}, fields={"after.weight_kg": "decimal(10,2)"})
    assert str(out["after"]["weight_kg"]) == "2.30"
    out = one(schemaless({"weight_kg": 2.3}), debezium={"decimal": "double"}, fields={"after.weight_kg": "decimal(10,2)"})
    assert str(out["after"]["weight_kg"]) == "2.30"


def test_schemaless_time_hints():
    fields = {"after.planned_at": "timestamp", "after.ship_date": "date", "after.departed_at": "timestamp"}
    after = {"planned_at": 1529507596945104, "ship_date": 20759, "departed_at": "2026-11-02T08:00:00+02:00"}
    out = one(schemaless(after), fields=fields)["after"]
    assert out["planned_at"] == datetime(2018, 6, 20, 15, 13, 16, 945104, tzinfo=UTC)
    assert out["ship_date"] == date(2026, 11, 2)
    assert out["departed_at"] == datetime(2026, 11, 2, 6, tzinfo=UTC)
    out = one(schemaless({"planned_at": 1529507596945}), debezium={"time": "connect"}, fields={"after.planned_at": "timestamp"})
    assert out["after"]["planned_at"] == datetime(2018, 6, 20, 15, 13, 16, 945000, tzinfo=UTC)


def test_field_casts_apply_after_decoding_with_schema_and_to_top_level_fields():
    step = Debezium("cdc", {"fields": {"after.weight_kg": "decimal(10,1)", "ts_ms": "timestamp(ms)"}}, None)
    out = step.process([fixture("shipment_update_with_schema")])[0][0]
    assert str(out["after"]["weight_kg"]) == "2.3"
    assert out["ts_ms"] == datetime(2019, 5, 28, 8, 58, 24, 961000, tzinfo=UTC)
    assert step.output_fields["ts_ms"] == "timestamp" and step.output_fields["after"] == "json"


def test_failed_field_cast_names_the_path():
    oks, deads = decode(schemaless({"weight_kg": "n/a"}), debezium={"decimal": "string"}, fields={"after.weight_kg": "decimal(10,2)"})
    assert oks == [] and deads[0].error == "cannot cast field 'after.weight_kg' value 'n/a' to decimal(10,2): not a number"


def test_output_fields_and_config_errors():
    assert Debezium("cdc", {}, None).output_fields == {
        "op": "str", "before": "json", "after": "json", "source": "json", "ts_ms": "int",
        "transaction": "json", "table": "str", "tx_id": "str", "lsn": "int", "source_ts_ms": "int"}
    with pytest.raises(ConfigError) as info:
        Debezium("cdc", {"decimal": "exact"}, None)
    assert info.value.path == ("decimal",)
    with pytest.raises(ConfigError) as info:
        Debezium("cdc", {"fields": {"after.x": "integer"}}, None)
    assert info.value.path == ("fields", "after.x")
    with pytest.raises(ConfigError) as info:
        Debezium("cdc", {"time": "nanos"}, None)
    assert info.value.path == ("time",)


# --- a whole topology -------------------------------------------------------------------------

TOPOLOGY = """\
version: 1
name: cdc
sources:
  shipments: {{file: {{path: "{dir}/in.jsonl"}}}}
steps:
  - id: changes
    debezium:
      decimal: precise
      time: adaptive
      fields: {{ts_ms: "timestamp(ms)"}}
  - id: heavy
    filter: "op != 'd' and after.weight_kg > 2"
  - id: out
    map: {{fields: {{id: after.id, kg: after.weight_kg, planned: after.planned_at, table: table, tx: tx_id}}}}
sinks:
  out: {{from: out, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_debezium_in_a_validated_topology(flow):
    lines = [fixture("shipment_update_with_schema"), fixture("shipment_delete_with_schema"), fixture("heartbeat"),
             fixture("customers_create_with_schema")]
    flow.write("in.jsonl", lines)
    ran = flow.run(TOPOLOGY, RunOptions(workers=1))
    out = ran.rows("out")
    assert out == [{"id": 5, "kg": 2.3, "planned": "2018-06-20T15:13:16.945104+00:00", "table": "shipment", "tx": "571"}]
    assert '"kg":2.30' in ran.text("out")  # the exact decimal, not a float
    dead = ran.dead
    assert [d["error"] for d in dead] == ["not a Debezium change event: missing 'op' (a heartbeat)"]
    assert dead[0]["step"] == "changes" and dead[0]["event"]["payload"] == {"ts_ms": 1588252618953}


def test_schema_rejects_unknown_hint_and_cast_without_fields():
    head = "version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsteps:\n  - id: last\n"
    sink = "sinks:\n  out: {from: last, stdout: {}}\n"
    bad_hint = validate_text("t.yaml", head + "    debezium: {decimal: exact}\n" + sink, env={})
    assert not bad_hint.ok
    empty = validate_text("t.yaml", head + "    cast: {on_error: 'null'}\n" + sink, env={})
    assert not empty.ok
    good = validate_text("t.yaml", head + "    debezium: {}\n" + sink, env={})
    assert good.ok, [d.message for d in good.diagnostics]


@pytest.mark.parametrize("old", ["cast: {debezium: true}", "cast: {debezium: {decimal: string}, fields: {after.x: int}}"])
def test_the_decoder_inside_cast_is_refused_with_the_rewrite(old):
    head = "version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsteps:\n  - id: last\n"
    result = validate_text("t.yaml", head + f"    {old}\n" + "sinks:\n  out: {from: last, stdout: {}}\n", env={})
    [error] = result.diagnostics
    assert (error.line, error.column) == (7, 12)
    assert error.message == "Debezium change events are decoded by their own step now"
    assert "'debezium: {}' instead of 'cast: {debezium: true}'" in error.hint
