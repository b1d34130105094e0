"""Golden end to end on the embedded default: a generated TMS workload through the shipped
Velocity topologies (technical -> domain -> Fast Storage) equals the simulator's ground truth.

Workloads: ``streaming`` (the connector sees every transaction); ``snapshot`` (it starts after
40 transactions, so their rows arrive as an initial snapshot, ``op: r`` with
``source.snapshot`` and no BEGIN/END, that later transactions update and delete; snapshot
reads are no business events); ``key_moves`` (handling units move between orders, their
domain key, within one 5 s MicroBatch period, the stale version under either chunk);
``real_cdc`` (both). docs/tms.md describes them."""

import json
import pathlib
from datetime import date, datetime, timezone
from decimal import Decimal

import duckdb
import pytest

from cli.main import main
from engine.simulation import generate
from engine.simulation.schema import TABLES as TMS_TABLES

ROOT = pathlib.Path(__file__).parents[1]
TABLES = ("transport_order", "note", "handling_unit", "order_stop", "leg_order", "pickup", "trip", "leg", "stop")


def normal(value):
    """One comparable form for a truth value (JSON text) and a DuckDB value."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    if isinstance(value, (date, Decimal, int, bool, dict, list)) or value is None:
        return value
    text = str(value)
    parsers = [lambda t: normal(datetime.fromisoformat(t.replace("Z", "+00:00"))), Decimal]
    for parse in ([date.fromisoformat] if len(text) == 10 else []) + parsers:
        try:
            return parse(text)
        except (ValueError, ArithmeticError):
            continue
    if text.startswith(("{", "[")):
        return json.loads(text)
    return text


def rows(records, table="transport_order"):
    key = TMS_TABLES[table].primary_key
    return {tuple(str(r[k]) for k in key): {k: normal(v) for k, v in r.items()} for r in records}


def truth_table(run, table):
    return [json.loads(line) for line in (run / "tms" / "truth" / "tables" / f"{table}.jsonl").read_text().splitlines()]


WORKLOADS = {
    "streaming": {},
    "snapshot": {"snapshot_after": 40},
    "key_moves": {"key_moves": True},
    "real_cdc": {"snapshot_after": 40, "key_moves": True},
}


@pytest.fixture(scope="module", params=list(WORKLOADS))
def run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"velocity-{request.param}")
    generate(str(out / "tms"), orders=60, seed=3, with_schema=True, **WORKLOADS[request.param])
    return out


def test_fast_storage_equals_the_ground_truth(run, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_TMS", str(run / "tms"))
    monkeypatch.setenv("VF_OUT", str(run / "out"))
    for topology in ("transport_order_domain", "pickup_domain", "trip_domain", "fast_storage"):
        assert main(["run", "-q", f"topologies/velocity/{topology}.yaml"]) == 0, topology
    con = duckdb.connect(str(run / "out" / "fast_storage.duckdb"))
    for table in TABLES:
        truth = truth_table(run, table)
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        stored = [dict(zip(names, row)) for row in cursor.fetchall()]
        assert rows(stored, table) == rows(truth, table), table
    assert not [p for p in (run / "out" / "dead-letter").glob("*.jsonl") if p.read_text()]  # empty: none written
    loads = con.execute("SELECT trip_id, len(stops), len(legs) FROM load").fetchall()
    assert len(loads) == con.execute("SELECT count(*) FROM trip").fetchone()[0] > 0
    assert all(legs == stops - 1 for _, stops, legs in loads if stops)  # a leg between consecutive stops
    metrics = con.execute("SELECT status, departure_time, route FROM order_metrics WHERE status = 'delivered'").fetchall()
    assert metrics and all(departed is not None and len(route) >= 2 for _, departed, route in metrics)


def test_domain_events_merge_redundant_changes(run, monkeypatch):
    # its own run, into its own folder: the test does not lean on another test's output
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_TMS", str(run / "tms"))
    monkeypatch.setenv("VF_OUT", str(run / "out-domain"))
    assert main(["run", "-q", "topologies/velocity/transport_order_domain.yaml"]) == 0
    domain = run / "out-domain" / "domain" / "transport_order.jsonl"
    events = [json.loads(line) for line in domain.read_text().splitlines()]
    assert len({e["event_id"] for e in events}) == len(events)  # deterministic ids, no duplicates
    note_edits = [c for e in events for c in e["changes"] if c["table"] == "note" and c["op"] == "u"]
    assert note_edits and all(c["merged"] >= 2 and c["changed"] for c in note_edits)  # DELETE+INSERT -> UPDATE
    assert all(c["before"] != c["after"] for e in events for c in e["changes"])  # no no-op updates survive
    assert {e["type"] for e in events} >= {"TransportOrderCreated", "TransportOrderUpdated"}


SUBJECT_FIELDS = ("type", "order_id", "pickup_id", "trip_id", "reason", "completed_at", "failed_at", "departed_at",
                  "delivered_at", "eta", "previous_eta", "delay_minutes", "tx_id")


def business(records):
    """Business events as comparable tuples (all the fields the truth defines)."""
    return sorted(tuple(str(normal(r.get(k))) for k in SUBJECT_FIELDS) for r in records)


def test_event_engine_emits_exactly_the_expected_business_events(run, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_TMS", str(run / "tms"))
    monkeypatch.setenv("VF_OUT", str(run / "out"))
    for topology in ("transport_order_domain", "pickup_domain", "trip_domain", "event_engine"):
        assert main(["run", "-q", f"topologies/velocity/{topology}.yaml"]) == 0, topology
    expected = [json.loads(line) for line in (run / "tms" / "truth" / "business_events.jsonl").read_text().splitlines()]
    found = [json.loads(line) for line in (run / "out" / "business" / "business_events.jsonl").read_text().splitlines()]
    assert len(found) == len(expected) and business(found) == business(expected)
    # enriched by the joins (docs/joins.md): the order's customer code and its trip's number, which
    # never change once written, so the truth's final tables are the oracle. A departure names its
    # trip; a delivered order keeps the trip that delivered it; an ETA names the order's trip then
    # (maybe another one later), so only that its number is a trip's; pickups name no trip
    orders, trips = (rows(truth_table(run, table), table) for table in ("transport_order", "trip"))
    assert [e["customer_code"] for e in found] == [orders[(e["order_id"],)]["customer_code"] for e in found]
    number = {key[0]: trip["trip_number"] for key, trip in trips.items()}
    for event in found:
        trip = {"ShipmentDeparted": event.get("trip_id"), "ShipmentDelivered": orders[(event["order_id"],)]["trip_id"],
                "PickupCompleted": None, "PickupFailed": None}.get(event["type"], "any")
        assert event["trip_number"] == number.get(trip) if trip != "any" else \
            event["trip_number"] in [None, *number.values()], event
        assert "_trip_id" not in event
    assert {e["type"] for e in found if e["trip_number"]} == {"ShipmentDeparted", "ShipmentDelivered", "EtaUpdated"}
    assert {e["type"] for e in found} == {"PickupCompleted", "PickupFailed", "ShipmentDeparted", "EtaUpdated",
                                         "ShipmentDelivered"}
    con = duckdb.connect(str(run / "out" / "business.duckdb"))
    assert con.execute("SELECT count(*) FROM business_event").fetchone() == (len(expected),)
    assert (run / "out" / "dead-letter" / "event_engine.jsonl").read_text() == ""  # started empty, none written
