"""topologies/examples/departure_notices.yaml on a real PostgreSQL server
(tests/services/postgres.py): the Velocity flows write the Fast Storage there (`--env postgres`)
and the business events, and the example enriches every departure from the Fast Storage with
`lookup` (docs/joins.md): each notice carries the order's and the trip's values of the TMS's
final tables, which the Fast Storage holds once MicroBatch is done."""

from __future__ import annotations

import json
import pathlib
import uuid

from cli.main import main
from engine.simulation import generate
from tests.test_velocity_golden import normal, rows, truth_table

ROOT = pathlib.Path(__file__).parents[2]


def test_departure_notices_read_the_fast_storage_on_postgres(postgres_dsn, tmp_path, monkeypatch):
    generate(str(tmp_path / "tms"), orders=30, seed=11, with_schema=True)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_TMS", str(tmp_path / "tms"))
    monkeypatch.setenv("VF_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("VF_PG_DSN", postgres_dsn)
    monkeypatch.setenv("VF_PG_SCHEMA", "f_" + uuid.uuid4().hex[:12])
    for topology in ("transport_order_domain", "pickup_domain", "trip_domain", "event_engine"):
        assert main(["run", "-q", f"topologies/velocity/{topology}.yaml"]) == 0, topology
    assert main(["run", "-q", "--env", "postgres", "topologies/velocity/fast_storage.yaml"]) == 0
    assert main(["run", "-q", "topologies/examples/departure_notices.yaml"]) == 0

    out = tmp_path / "out"
    events = [json.loads(line) for line in (out / "business" / "business_events.jsonl").read_text().splitlines()]
    notices = [json.loads(line) for line in (out / "business" / "departure_notices.jsonl").read_text().splitlines()]
    assert (out / "dead-letter" / "departure_notices.jsonl").read_text() == ""
    departed = [e for e in events if e["type"] == "ShipmentDeparted"]
    assert departed and [n["event_id"] for n in notices] == [e["event_id"] for e in departed]
    orders, trips = (rows(truth_table(tmp_path, table), table) for table in ("transport_order", "trip"))
    for notice in notices:
        order, trip = orders[(notice["order_id"],)], trips[(notice["trip_id"],)]
        assert notice["order_number"] == order["order_number"]
        assert notice["destination_city"] == order["destination_city"]
        assert normal(notice["planned_delivery_at"]) == order["planned_delivery_at"]
        assert (notice["vehicle_plate"], notice["carrier_code"]) == (trip["vehicle_plate"], trip["carrier_code"])
        assert normal(notice["planned_arrival"]) == trip["planned_arrival"]
