"""Issue 11 acceptance: one bad event never stops a flow and never vanishes.

Every shipped topology (topologies/velocity/*.yaml, topologies/examples/*.yaml) and the
harness's window topology runs once through the real CLI on its hand-written valid inputs
mixed with every poison case that targets it (tests/poison/corpus/cases/). The run must exit 0
with no traceback or panic on stderr; each poison case must end where its ``expect`` says
(exactly one dead letter, with its origin for decode failures); the valid inputs must give the
results computed by hand below; and the dead letters must all belong to poison cases.
When a run fails, each case is re-run alone to name the ones that stop the flow.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from tests.poison import harness
from tests.poison.harness import poison_free

ALL = harness.load_cases()


def test_the_corpus_has_at_least_60_distinct_labelled_cases():
    assert len(ALL) >= 60
    assert len({c["id"] for c in ALL}) == len(ALL)
    rendered = set()
    for case in ALL:
        assert case["what"].strip() and case["expect"] in ("dead", "out", "skip", "dead|out"), case["id"]
        names = list(harness.TOPOLOGIES) if case["topologies"] == "*" else case["topologies"]
        assert names and all(n in harness.TOPOLOGIES for n in names), case["id"]
        topology = harness.TOPOLOGIES[names[0]]
        rendered.add(harness.render(case, case, topology, 1).replace(harness.token(case).encode(), b"T"))
    assert len(rendered) == len(ALL)  # distinct inputs, not only distinct names
    categories = {c["id"].split(".")[0] for c in ALL}
    assert {"decode", "debezium", "markers", "fast_storage", "event_engine", "examples", "windows"} <= categories
    for name in harness.TOPOLOGIES:
        assert len(harness.cases_for(name, ALL)) >= 20, name


def _utc(text):
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _change(event, table):
    found = [c for c in event["changes"] if c["table"] == table]
    assert len(found) == 1, (table, event["changes"])
    return found[0]


# --- expected results of the valid inputs, by hand -------------------------------------------

def valid_pickup_domain(result, cases):
    events = poison_free(result, cases, "out/domain/pickup.jsonl")
    p1 = "0b6f1c52-3a44-4d0e-9d7e-1f1f5a0c0001"
    got = [(e["type"], e["key"], e["tx_id"], e["occurred_at"]) for e in events]
    assert got == [("PickupCreated", p1, "1001", "2024-03-04T05:02:04+00:00"),  # the commit time, source.ts_ms
                   ("PickupUpdated", p1, "1002", "2024-03-04T05:03:04+00:00")]  # tx 1003 (insert + delete) nets to nothing
    created, updated = events
    c = _change(created, "pickup")
    assert c["op"] == "c" and c["before"] is None
    assert c["after"]["pickup_date"] == "2024-03-04"  # io.debezium.time.Date 19786
    assert _utc(c["after"]["window_start"]) == datetime(2024, 3, 4, 6, 29, tzinfo=timezone.utc)
    u = _change(updated, "pickup")
    assert u["op"] == "u" and u["changed"] == ["completed_at", "status", "updated_at"]
    assert u["before"]["status"] == "scheduled" and u["after"]["status"] == "completed"
    assert _utc(u["after"]["completed_at"]) == datetime(2024, 3, 4, 6, 40, tzinfo=timezone.utc)
    assert all(e["domain"] == "pickup" and e["changed_tables"] == ["pickup"] for e in events)


def valid_trip_domain(result, cases):
    events = poison_free(result, cases, "out/domain/trip.jsonl")
    t1 = "9a1e3c00-0000-4000-8000-00000000a001"
    assert [(e["type"], e["key"], e["tx_id"]) for e in events] == [("TripCreated", t1, "2001"), ("TripUpdated", t1, "2002")]
    created, updated = events  # tx 2003 is a no-op update: nothing
    assert created["changed_tables"] == ["leg", "stop", "trip"]
    assert {c["table"]: c["op"] for c in created["changes"]} == {"trip": "c", "stop": "c", "leg": "c"}
    assert _change(created, "trip")["after"]["distance_km"] == "Ai8="  # schemaless: kept as sent
    assert updated["changed_tables"] == ["leg", "trip"]
    for table in ("trip", "leg"):
        assert _change(updated, table)["changed"] == ["actual_departure", "status", "updated_at"]
    assert _change(updated, "leg")["after"]["status"] == "in_progress"


def valid_transport_order_domain(result, cases):
    events = poison_free(result, cases, "out/domain/transport_order.jsonl")
    o = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e0aaaa"
    assert [(e["type"], e["key"], e["tx_id"]) for e in events] == [
        ("TransportOrderCreated", o, "3001"), ("TransportOrderUpdated", o, "3002"), ("TransportOrderUpdated", o, "3003")]
    created, note_edit, links = events
    order = _change(created, "transport_order")["after"]
    assert Decimal(str(order["total_weight_kg"])) == Decimal("123.456")
    assert order["attributes"] == {"ref": 123456789012345678901234567890, "route": ["Verona", "Milano"]}  # exact, jsonb text
    assert _change(created, "note")["op"] == "c"
    edit = _change(note_edit, "note")  # DELETE + INSERT of note 1 -> one UPDATE of its body
    assert (edit["op"], edit["changed"], edit["merged"], edit["after"]["body"]) == ("u", ["body"], 2, "ring three times")
    assert links["changed_tables"] == ["handling_unit", "leg_order", "order_stop"]


def valid_fast_storage(result, cases):
    db = "out/fast_storage.duckdb"
    rows = {t: poison_free(result, cases, f"{db}:{t}") for t in harness.TOPOLOGIES["fast_storage"].duckdb[0][1]}
    order_id = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e0f001"
    assert [r["id"] for r in rows["transport_order"]] == [order_id]
    order = rows["transport_order"][0]
    assert order["total_weight_kg"] == Decimal("123.456") and order["declared_value"] == Decimal("1000.50")
    assert order["requested_delivery_date"] == date(2024, 3, 5)
    assert order["eta"] == datetime(2024, 3, 4, 12, 0, tzinfo=timezone.utc)
    attributes = json.loads(order["attributes"])
    assert attributes["ref"] == 123456789012345678901234567890, f"json column lost digits: {order['attributes']}"
    assert [r["id"] for r in rows["note"]] == [42]  # note 43 inserted, then deleted by tx 5002
    assert [r["id"] for r in rows["pickup"]] == ["0b6f1c52-3a44-4d0e-9d7e-1f1f5a0cf001"]
    assert rows["pickup"][0]["pickup_date"] == date(2024, 3, 4)
    assert [(r["id"], r["distance_km"]) for r in rows["trip"]] == [("9a1e3c00-0000-4000-8000-00000000f001", Decimal("55.9"))]
    assert [(r["sequence"], r["load_weight_kg"]) for r in rows["leg"]] == [(1, Decimal("0.000"))]
    assert [r["kind"] for r in rows["stop"]] == ["depot"]
    assert not rows["handling_unit"] and not rows["order_stop"] and not rows["leg_order"]


def valid_event_engine(result, cases):
    events = poison_free(result, cases, "out/business/business_events.jsonl")
    eo, ep = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e0e001", "0b6f1c52-3a44-4d0e-9d7e-1f1f5a0ce001"
    got = sorted((e["type"], e["tx_id"]) for e in events)
    assert got == [("EtaUpdated", "6002"), ("PickupCompleted", "6003"), ("ShipmentDeparted", "6001")]  # 6004: address only
    by_type = {e["type"]: e for e in events}
    assert by_type["PickupCompleted"]["pickup_id"] == ep and by_type["PickupCompleted"]["order_id"] == eo
    assert _utc(by_type["ShipmentDeparted"]["departed_at"]) == datetime(2024, 3, 4, 8, 5, tzinfo=timezone.utc)
    eta = by_type["EtaUpdated"]
    assert (_utc(eta["eta"]), _utc(eta["previous_eta"]), eta["delay_minutes"]) == (
        datetime(2024, 3, 4, 12, 30, tzinfo=timezone.utc), datetime(2024, 3, 4, 12, 0, tzinfo=timezone.utc), 30)
    table = poison_free(result, cases, "out/business.duckdb:business_event")
    assert sorted(r["event_id"] for r in table) == sorted(e["event_id"] for e in events)


def valid_examples(result, cases):
    orders = poison_free(result, cases, "out/velocity.duckdb:transport_order")
    got = sorted((r["order_id"], r["status"], r["weight_kg"], r["heavy"], r["city"]) for r in orders)
    assert got == [(1, "NEW", Decimal("10.500"), False, "Milano"), (3, "IN_TRANSIT", Decimal("1500.250"), True, "Bologna"),
                   (5, "NEW", Decimal("2.500"), False, "Milano")]  # 2 is a DRAFT, 4 weighs 0: filtered
    three = [r for r in orders if r["order_id"] == 3][0]
    assert three["planned_at"] == datetime(2026, 11, 2, 5, 1, tzinfo=timezone.utc)
    heavy = poison_free(result, cases, "out/heavy_orders.jsonl")
    assert [h["order_id"] for h in heavy] == [3]
    stats = {r["status"]: (r["orders"], r["total_kg"]) for r in result.parsed.get("out/velocity.duckdb:status_stats", [])}
    # poison orders are PICKED_UP (or CANCELLED): the valid statuses count the valid orders only
    assert stats.get("NEW") == (2, Decimal("13.000")) and stats.get("IN_TRANSIT") == (1, Decimal("1500.250")), stats


def valid_windows(result, cases):
    windows = poison_free(result, cases, "out/windows.jsonl")
    got = sorted((w["k"], w["window_start"], w["window_end"], w["n"], w["total"]) for w in windows)
    assert got == [("a", "2024-03-04T05:00:00+00:00", "2024-03-04T06:00:00+00:00", 3, 7),
                   ("b", "2024-03-04T05:00:00+00:00", "2024-03-04T06:00:00+00:00", 1, 3)]


VALID = {"pickup_domain": valid_pickup_domain, "trip_domain": valid_trip_domain,
         "transport_order_domain": valid_transport_order_domain, "fast_storage": valid_fast_storage,
         "event_engine": valid_event_engine, "examples": valid_examples, "windows": valid_windows}

# How many output events / rows the valid inputs give (in = out + dead per the topology's logic).
VALID_OUT = {"pickup_domain": ("out/domain/pickup.jsonl", 2), "trip_domain": ("out/domain/trip.jsonl", 2),
             "transport_order_domain": ("out/domain/transport_order.jsonl", 3),
             "event_engine": ("out/business/business_events.jsonl", 3), "windows": ("out/windows.jsonl", 2)}


@pytest.mark.parametrize("name", list(harness.TOPOLOGIES))
def test_poison_corpus_through_topology(name, tmp_path):
    verdict = harness.examine(name, tmp_path, ALL)
    problems = list(verdict.problems)
    try:
        VALID[name](verdict.result, verdict.cases)
    except AssertionError as exc:
        problems.append(f"valid inputs: wrong result: {str(exc).splitlines()[0] if str(exc) else repr(exc)}")
    except Exception as exc:  # noqa: BLE001 - e.g. an output missing because the run failed
        problems.append(f"valid inputs: no result ({type(exc).__name__}: {exc})")
    if name in VALID_OUT:
        key, valid_count = VALID_OUT[name]
        outs = sum(1 for c in verdict.cases if c["expect"] == "out")
        found = len(verdict.result.parsed.get(key, []))
        expected_dead = sum(1 for c in verdict.cases if c["expect"] == "dead")
        either = sum(1 for c in verdict.cases if c["expect"] == "dead|out")  # a case's one output or dead letter
        if not verdict.result.crashed and found > valid_count + outs + either:
            problems.append(f"{key}: {found} events, expected at most {valid_count} valid + {outs + either} poison outputs")
        if not verdict.result.crashed and not expected_dead <= len(verdict.result.dead) <= expected_dead + either:
            problems.append(f"{len(verdict.result.dead)} dead letters for {expected_dead} poison cases expected dead")
    summary = (f"{name}: {len(verdict.cases) + len(verdict.crashers)} cases, {verdict.runs} run(s), {verdict.seconds:.1f}s, "
               f"{len(verdict.crashers)} case(s) stop the flow")
    assert not problems, summary + "\n  " + "\n  ".join(problems)
