"""Scripted scenarios, followed through the shipped Velocity topologies on a generated workload:
an order's full lifecycle, a failed pickup, a delayed trip whose ETA moves, a note edit, a
handling unit moved to another order."""

import json
import pathlib
from collections import defaultdict

import pytest

from cli.main import main
from engine.simulation import generate

ROOT = pathlib.Path(__file__).parents[1]


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenarios")
    generate(str(out / "tms"), orders=80, seed=11, with_schema=True, key_moves=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.setenv("VF_TMS", str(out / "tms"))
        patch.setenv("VF_OUT", str(out / "out"))
        for topology in ("transport_order_domain", "pickup_domain", "trip_domain", "event_engine"):
            assert main(["run", "-q", f"topologies/velocity/{topology}.yaml"]) == 0
    read = lambda p: [json.loads(line) for line in p.read_text().splitlines()]  # noqa: E731
    domain = read(out / "out" / "domain" / "transport_order.jsonl")
    business = defaultdict(list)
    for event in read(out / "out" / "business" / "business_events.jsonl"):
        business[event["order_id"]].append(event)
    return domain, business


def _statuses(domain, order_id):
    """The order's status after each of its domain events, in commit order."""
    return [c["after"]["status"] for e in domain if e["key"] == order_id
            for c in e["changes"] if c["table"] == "transport_order" and c["after"]]


def test_a_delivered_order_goes_through_its_whole_lifecycle_in_order(flows):
    domain, business = flows
    order_id = next(o for o, events in business.items() if "ShipmentDelivered" in {e["type"] for e in events})
    statuses = _statuses(domain, order_id)
    assert statuses[0] == "created" and statuses[-1] == "delivered"
    assert [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]] == \
        ["created", "planned", "in_transit", "delivered"]
    kinds = [e["type"] for e in business[order_id]]
    assert kinds.index("PickupCompleted") < kinds.index("ShipmentDeparted") < kinds.index("ShipmentDelivered")
    assert kinds.count("ShipmentDeparted") == kinds.count("ShipmentDelivered") == 1
    # enriched (docs/joins.md): one customer throughout, departed and delivered by the same numbered trip
    assert len({e["customer_code"] for e in business[order_id]}) == 1 and business[order_id][0]["customer_code"]
    trips = {e["trip_number"] for e in business[order_id] if e["type"] in ("ShipmentDeparted", "ShipmentDelivered")}
    assert len(trips) == 1 and trips.pop().startswith("TR-")
    assert [e["type"] for e in domain if e["key"] == order_id][0] == "TransportOrderCreated"


def test_a_failed_pickup_is_reported_with_its_reason(flows):
    _, business = flows
    failures = [e for events in business.values() for e in events if e["type"] == "PickupFailed"]
    assert failures
    assert {f["reason"] for f in failures} <= {"customer_absent", "goods_not_ready", "address_not_found",
                                               "vehicle_breakdown"}
    twice = [o for o, events in business.items() if [e["type"] for e in events].count("PickupFailed") == 2]
    for order_id in twice:  # a second failure cancels the order: it never departs
        assert "ShipmentDeparted" not in {e["type"] for e in business[order_id]}


def test_a_delayed_trip_moves_the_eta_and_each_update_knows_the_previous_one(flows):
    _, business = flows
    moved = [e for events in business.values() for e in events if e["type"] == "EtaUpdated" and e["previous_eta"]]
    assert moved and any(e["delay_minutes"] > 0 for e in moved)
    for order_id, events in business.items():
        etas = [e for e in events if e["type"] == "EtaUpdated"]
        for before, after in zip(etas, etas[1:]):  # a chain: each update starts where the last ended
            assert after["previous_eta"] == before["eta"] and after["eta"] != before["eta"]


def test_a_note_edited_by_delete_and_insert_is_one_update(flows):
    domain, _ = flows
    edits = [c for e in domain for c in e["changes"] if c["table"] == "note" and c["op"] == "u"]
    assert edits
    for change in edits:
        assert change["merged"] == 2 and change["changed"] == ["body"]
        assert change["before"]["id"] == change["after"]["id"]


def test_a_handling_unit_moved_to_another_order_is_in_the_events_of_both_orders(flows):
    domain, _ = flows
    moves = [(e, c) for e in domain for c in e["changes"] if c["table"] == "handling_unit" and c["op"] == "u"
             and c["before"]["order_id"] != c["after"]["order_id"]]
    assert len(moves) >= 8  # each move twice
    for event, change in moves:
        assert event["key"] in (change["after"]["order_id"], change["before"]["order_id"])
        both = [e for e in domain if e["tx_id"] == event["tx_id"] and change in e["changes"]]
        assert sorted(e["key"] for e in both) == sorted([change["before"]["order_id"], change["after"]["order_id"]])
        source = [e for e in domain if e["tx_id"] == event["tx_id"] and e["key"] == change["before"]["order_id"]]
        assert len(source) == 1  # the same transaction, the order it left: its weight went down
        [order] = [c for c in source[0]["changes"] if c["table"] == "transport_order"]
        assert float(order["after"]["total_weight_kg"]) < float(order["before"]["total_weight_kg"])
