"""Business events of rows with legitimately NULL columns (schemas/tms/tms.sql: trip_id,
planned_delivery_at, departed_at, delivered_at, completed_at, failed_at, failure_reason are
nullable) exist, with null fields, instead of being dead-lettered; infinite timestamps are
carried as "infinity" / "-infinity" and give no delay. Hand-written domain events through the
shipped topologies/velocity/event_engine.yaml."""

import json
import pathlib

import duckdb
import pytest

from cli.main import main

ROOT = pathlib.Path(__file__).parents[1]
T0 = "2026-12-01T08:00:00+00:00"


def _order(order_id, **columns):
    row = {"id": order_id, "status": "planned", "trip_id": None, "planned_delivery_at": None, "eta": None,
           "departed_at": None, "delivered_at": None}
    return {**row, **columns}


def _pickup(pickup_id, **columns):
    row = {"id": pickup_id, "order_id": "o-p", "status": "scheduled", "completed_at": None, "failed_at": None,
           "failure_reason": None}
    return {**row, **columns}


def _event(tx, domain, key, table, before, after):
    change = {"table": table, "op": "u" if before else "c", "before": before, "after": after,
              "changed": sorted(k for k in after if (before or {}).get(k) != after[k])}
    kind = "TransportOrderUpdated" if domain == "transport_order" else "PickupUpdated"
    return {"event_id": f"e-{tx}", "type": kind, "domain": domain, "key": key, "occurred_at": T0,
            "tx_id": str(tx), "position": tx, "changed_tables": [table], "changes": [change]}


ORDERS = [
    # EtaUpdated without a planned delivery time, and ShipmentDeparted without trip and time
    _event(1, "transport_order", "o-1", "transport_order", _order("o-1"),
           _order("o-1", status="in_transit", eta="2026-12-05T10:00:00+00:00")),
    # ShipmentDelivered without a delivery time
    _event(2, "transport_order", "o-2", "transport_order", _order("o-2", status="in_transit"),
           _order("o-2", status="delivered")),
    # PostgreSQL 'infinity' / '-infinity' as the domain flows write them
    _event(3, "transport_order", "o-3", "transport_order", None,
           _order("o-3", eta="infinity", planned_delivery_at="-infinity")),
    _event(4, "transport_order", "o-4", "transport_order", _order("o-4", status="planned", trip_id="t-4"),
           _order("o-4", status="in_transit", trip_id="t-4", departed_at="-infinity",
                  eta="2026-12-02T10:30:00+00:00", planned_delivery_at="2026-12-02T10:00:00+00:00")),
]
PICKUPS = [
    _event(5, "pickup", "p-1", "pickup", _pickup("p-1"), _pickup("p-1", status="completed")),
    _event(6, "pickup", "p-2", "pickup", _pickup("p-2"), _pickup("p-2", status="failed")),
]


@pytest.fixture(scope="module")
def business(tmp_path_factory):
    out = tmp_path_factory.mktemp("business-nulls")
    (out / "domain").mkdir()
    for name, events in (("transport_order", ORDERS), ("pickup", PICKUPS), ("trip", [])):
        (out / "domain" / f"{name}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.setenv("VF_OUT", str(out))
        assert main(["run", "-q", "topologies/velocity/event_engine.yaml"]) == 0
    dead = out / "dead-letter" / "event_engine.jsonl"
    dead_letters = dead.read_text().splitlines() if dead.exists() else []
    events = [json.loads(line) for line in (out / "business" / "business_events.jsonl").read_text().splitlines()]
    con = duckdb.connect(str(out / "business.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    table = con.execute("SELECT type, order_id, trip_id, CAST(eta AS VARCHAR), CAST(departed_at AS VARCHAR), "
                        "delay_minutes, completed_at, failed_at, reason FROM business_event ORDER BY type, order_id").fetchall()
    con.close()
    return events, dead_letters, table


def _one(events, kind, order_id):
    [found] = [e for e in events if e["type"] == kind and e["order_id"] == order_id]
    return found


def test_nothing_is_dead_lettered(business):
    _, dead_letters, _ = business
    assert dead_letters == []


def test_events_with_null_fields_are_emitted_with_nulls(business):
    events, _, _ = business
    eta = _one(events, "EtaUpdated", "o-1")
    assert (eta["eta"], eta["previous_eta"], eta["delay_minutes"]) == ("2026-12-05T10:00:00+00:00", None, None)
    departed = _one(events, "ShipmentDeparted", "o-1")
    assert departed["trip_id"] is None and departed["departed_at"] is None
    assert _one(events, "ShipmentDelivered", "o-2")["delivered_at"] is None
    completed = _one(events, "PickupCompleted", "o-p")
    assert completed["pickup_id"] == "p-1" and completed["completed_at"] is None
    failed = _one(events, "PickupFailed", "o-p")
    assert failed["pickup_id"] == "p-2" and failed["reason"] is None and failed["failed_at"] is None
    assert len(events) == 8


def test_infinite_timestamps_are_carried_as_text_and_give_no_delay(business):
    events, _, _ = business
    eta = _one(events, "EtaUpdated", "o-3")
    assert (eta["eta"], eta["delay_minutes"]) == ("infinity", None)
    assert _one(events, "ShipmentDeparted", "o-4")["departed_at"] == "-infinity"
    assert _one(events, "EtaUpdated", "o-4")["delay_minutes"] == 30  # finite times: the delay as before


def test_the_duckdb_table_holds_the_nulls_and_duckdbs_infinities(business):
    _, _, table = business
    rows = {(r[0], r[1]): r[2:] for r in table}
    assert rows[("ShipmentDeparted", "o-1")][:3] == (None, None, None)
    assert rows[("EtaUpdated", "o-1")][1:4] == ("2026-12-05 10:00:00+00", None, None)
    assert rows[("EtaUpdated", "o-3")][1] == "infinity" and rows[("EtaUpdated", "o-3")][3] is None
    assert rows[("ShipmentDeparted", "o-4")][:3] == ("t-4", None, "-infinity")
    assert rows[("PickupFailed", "o-p")][4:] == (None, None, None)  # completed_at, failed_at, reason


def test_the_kafka_environment_has_the_same_steps():
    from engine.topology.environments import select_environment
    from engine.topology.loader import load_file

    doc = load_file(str(ROOT / "topologies" / "velocity" / "event_engine.yaml"), env={})
    assert select_environment(doc, "kafka").data["steps"] == select_environment(doc, None).data["steps"]
