"""Velocity's Fast Storage and Event Engine on domain events as the world delivers them rather than
as the simulator writes them: replayed (Kafka is read at least once), late, out of order within an
entity, entities deleted and created again, rows moving to another order or trip, Debezium's
unchanged-TOAST placeholder, times with offsets and at the ends of time, long ids, unicode.

The Fast Storage cases run the shipped topologies/velocity/fast_storage.yaml on files into DuckDB
(what `velocity-flow test` does not exercise: the sink's upserts, deletes and source positions) and
check the tables and views against the TMS state the events describe. The Event Engine's cases
that pass are in topologies/velocity/event_engine.world.test.yaml; here, a replay of several
changes of one row (with_previous' ``remember_if`` keeps the row's newest), and a strict xfail that
names the engine change it needs."""

import json
import pathlib
from datetime import datetime, timezone

import duckdb

from cli.main import main

ROOT = pathlib.Path(__file__).parents[1]
DOMAINS = ("transport_order", "pickup", "trip")


def _event(domain, key, tx, changes):
    """A domain event of one transaction; `changes` are (table, op, before, after, lsn)."""
    rows = [{"table": t, "op": op, "before": before, "after": after, "lsn": lsn, "seq": i + 1,
             "changed": sorted(set(after or {}) | set(before or {}))}
            for i, (t, op, before, after, lsn) in enumerate(changes)]
    kind = {"transport_order": "TransportOrder", "pickup": "Pickup", "trip": "Trip"}[domain]
    return {"event_id": f"{domain}-{key}-{tx}", "type": f"{kind}Updated", "domain": domain, "key": key,
            "occurred_at": "2025-12-01T08:00:00Z", "tx_id": str(tx),
            "position": max(r["lsn"] for r in rows), "changed_tables": sorted({r["table"] for r in rows}),
            "changes": rows}


def _fast_storage(tmp_path, monkeypatch, events, runs=1):
    """Run fast_storage.yaml `runs` times over the same domain files (a replay after a restart
    without a recovery store reads them all again); the DuckDB connection to its file."""
    out = tmp_path / "out"
    (out / "domain").mkdir(parents=True)
    for domain in DOMAINS:
        lines = [json.dumps(e) + "\n" for e in events if e["domain"] == domain]
        (out / "domain" / f"{domain}.jsonl").write_text("".join(lines))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_OUT", str(out))
    for _ in range(runs):
        assert main(["run", "-q", "topologies/velocity/fast_storage.yaml"]) == 0
    dead = out / "dead-letter" / "fast_storage.jsonl"
    assert not dead.exists() or dead.read_text() == ""
    con = duckdb.connect(str(out / "fast_storage.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _order(order_id, **columns):
    return {"id": order_id, "order_number": f"TO-{order_id}", "customer_code": "C1", "status": "planned",
            "trip_id": None, **columns}


def test_a_replayed_suffix_and_late_old_changes_leave_each_row_as_the_tms_has_it(tmp_path, monkeypatch):
    created = _event("transport_order", "O1", 1, [("transport_order", "c", None, _order("O1"), 100)])
    departed = _event("transport_order", "O1", 2, [("transport_order", "u", _order("O1"),
                                                    _order("O1", status="in_transit"), 200)])
    delivered = _event("transport_order", "O1", 3, [("transport_order", "u", _order("O1", status="in_transit"),
                                                     _order("O1", status="delivered"), 300)])
    # the producer replays from its last checkpoint (departed, delivered), then a very old copy comes
    events = [created, departed, delivered, departed, delivered, created, departed]
    con = _fast_storage(tmp_path, monkeypatch, events, runs=2)
    assert con.execute("SELECT id, status FROM transport_order").fetchall() == [("O1", "delivered")]
    assert con.execute("SELECT order_id, status FROM order_metrics").fetchall() == [("O1", "delivered")]


def test_a_row_deleted_and_created_again_with_its_id_is_the_new_row_whatever_the_order(tmp_path, monkeypatch):
    note = {"id": 7, "order_id": "O2", "kind": "customer", "author": "Zoë", "body": "first"}
    first = _event("transport_order", "O2", 1, [("note", "c", None, note, 100)])
    deleted = _event("transport_order", "O2", 2, [("note", "d", note, None, 200)])
    again = _event("transport_order", "O2", 3, [("note", "c", None, {**note, "body": "second ✓ 日本"}, 300)])
    gone = {"id": 8, "order_id": "O2", "kind": "internal", "author": "x", "body": "gone"}
    # the new row arrives first, then the old delete and the old insert (a replay): none wins over it;
    # note 8 is created and deleted, and its old insert replayed after the delete does not bring it back
    events = [again, deleted, first,
              _event("transport_order", "O2", 4, [("note", "c", None, gone, 400)]),
              _event("transport_order", "O2", 5, [("note", "d", gone, None, 500)]),
              _event("transport_order", "O2", 4, [("note", "c", None, gone, 400)])]
    con = _fast_storage(tmp_path, monkeypatch, events)
    assert con.execute("SELECT id, body FROM note ORDER BY id").fetchall() == [(7, "second ✓ 日本")]


def test_a_handling_unit_moved_to_another_order_and_back_is_under_the_order_it_ended_on(tmp_path, monkeypatch):
    unit = {"id": "H1", "order_id": "O3", "sscc": "00012345678901234567", "kind": "pallet", "status": "registered"}
    moved = {**unit, "order_id": "O4"}
    # each move is in the events of both orders (docs/transactions.md); the orders' events come in
    # any order relative to each other (two keys, two MicroBatch chunks)
    there = [("handling_unit", "u", unit, moved, 200)]
    back = [("handling_unit", "u", moved, unit, 300)]
    events = [_event("transport_order", "O3", 1, [("handling_unit", "c", None, unit, 100)]),
              _event("transport_order", "O4", 3, back), _event("transport_order", "O4", 2, there),
              _event("transport_order", "O3", 3, back), _event("transport_order", "O3", 2, there)]
    con = _fast_storage(tmp_path, monkeypatch, events)
    assert con.execute("SELECT id, order_id, sscc FROM handling_unit").fetchall() == \
        [("H1", "O3", "00012345678901234567")]


def test_a_stop_moved_to_another_trip_is_in_the_load_of_that_trip_only(tmp_path, monkeypatch):
    trip = lambda t: {"id": t, "trip_number": f"TR-{t}", "status": "planned"}  # noqa: E731
    stop = {"id": "S1", "trip_id": "T1", "sequence": 1, "kind": "delivery", "city": "Málaga", "status": "planned"}
    moved = {**stop, "trip_id": "T2", "sequence": 2}
    events = [_event("trip", "T1", 1, [("trip", "c", None, trip("T1"), 100), ("stop", "c", None, stop, 101)]),
              _event("trip", "T2", 2, [("trip", "c", None, trip("T2"), 200)]),
              _event("trip", "T2", 3, [("stop", "u", stop, moved, 300)]),
              _event("trip", "T1", 3, [("stop", "u", stop, moved, 300)]),
              _event("transport_order", "O5", 4, [("transport_order", "c", None, _order("O5", trip_id="T2"), 400)])]
    con = _fast_storage(tmp_path, monkeypatch, events)
    assert con.execute("SELECT trip_id, sequence FROM stop").fetchall() == [("T2", 2)]
    loads = dict(con.execute("SELECT trip_id, [s.city for s in coalesce(stops, [])] FROM load").fetchall())
    assert loads == {"T1": [], "T2": ["Málaga"]}
    assert con.execute("SELECT route FROM order_metrics").fetchall() == [(["Málaga"],)]


def test_unchanged_toast_values_keep_what_the_row_holds_and_times_are_instants(tmp_path, monkeypatch):
    toast = "__debezium_unavailable_value"
    trip = {"id": "T9", "trip_number": "TR-9", "driver_name": "Łukasz Żółć", "status": "planned",
            "planned_departure": "2025-10-26T02:30:00+02:00", "planned_arrival": "2025-10-26T02:30:00+01:00",
            "actual_departure": "1970-01-01T00:00:00Z", "actual_arrival": "9999-12-31T23:59:59.999999Z"}
    events = [_event("trip", "T9", 1, [("trip", "c", None, trip, 18446744073709551515)]),
              _event("trip", "T9", 2, [("trip", "u", trip, {**trip, "driver_name": toast, "status": "departed"},
                                         18446744073709551615)]),
              # a row first seen with the placeholder: the value is unknown
              _event("trip", "T8", 3, [("trip", "c", None, {**trip, "id": "T8", "driver_name": toast}, 900)])]
    con = _fast_storage(tmp_path, monkeypatch, events)
    found = con.execute("SELECT id, driver_name, status, planned_departure, planned_arrival, actual_departure, "
                        "actual_arrival FROM trip ORDER BY id").fetchall()
    utc = timezone.utc
    times = (datetime(2025, 10, 26, 0, 30, tzinfo=utc), datetime(2025, 10, 26, 1, 30, tzinfo=utc),
             datetime(1970, 1, 1, tzinfo=utc), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=utc))
    as_utc = [tuple(v.replace(tzinfo=v.tzinfo or utc).astimezone(utc) if isinstance(v, datetime) else v for v in row)
              for row in found]
    assert as_utc == [("T8", None, "planned", *times), ("T9", "Łukasz Żółć", "departed", *times)]


# ---- Event Engine: cases that need an engine change -------------------------------------------


def _engine_case(tmp_path, monkeypatch, case):
    """Run one `velocity-flow test` case of the shipped event_engine.yaml; True when it passes."""
    path = tmp_path / "case.test.yaml"
    path.write_text(json.dumps({"topology": str(ROOT / "topologies/velocity/event_engine.yaml"), "tests": [case]}))
    monkeypatch.chdir(ROOT)
    return main(["test", str(path)]) == 0


def _eta(tx, order_id, trip_id, before_eta, after_eta, before_trip=None):
    row = {"id": order_id, "customer_code": "C1", "status": "in_transit"}
    change = {"table": "transport_order", "op": "u", "lsn": tx * 10, "seq": 1,
              "before": {**row, "trip_id": before_trip or trip_id, "eta": before_eta},
              "after": {**row, "trip_id": trip_id, "eta": after_eta}}
    return {"event_id": f"e{tx}", "type": "TransportOrderUpdated", "domain": "transport_order", "key": order_id,
            "tx_id": str(tx), "occurred_at": "2025-12-01T10:00:00Z", "position": tx * 10,
            "changed_tables": ["transport_order"], "changes": [change]}


def test_a_replay_of_two_changes_of_one_order_gives_no_second_eta_update(tmp_path, monkeypatch):
    first = _eta(1, "O1", "T1", "2025-12-01T12:00:00Z", "2025-12-01T13:00:00Z")
    second = _eta(2, "O1", "T1", "2025-12-01T13:00:00Z", "2025-12-01T14:00:00Z")
    case = {"name": "a replayed suffix", "inputs": {"orders": [first, second, first, second]},
            "expect": [{"at": "sink:business-events", "count": 2,
                        "where": "type == 'EtaUpdated' and tx_id in ['1', '2']"}]}
    assert _engine_case(tmp_path, monkeypatch, case)


def test_an_order_moved_to_another_trip_while_its_trip_row_is_late_keeps_its_eta_updates_in_order(
        tmp_path, monkeypatch):
    trip = lambda t: {"event_id": f"t-{t}", "type": "TripCreated", "domain": "trip", "key": t,  # noqa: E731
                      "tx_id": "1", "occurred_at": "2025-12-01T06:00:00Z",
                      "changes": [{"table": "trip", "op": "c", "before": None,
                                   "after": {"id": t, "trip_number": f"TR-{t}"}}]}
    held = _eta(2, "O1", "T1", "2025-12-01T12:00:00Z", "2025-12-01T13:00:00Z")
    moved = _eta(3, "O1", "T2", "2025-12-01T13:00:00Z", "2025-12-01T15:00:00Z", before_trip="T1")
    case = {"name": "ETA updates of one order stay in commit order", "clock": "2025-12-01T10:00:00Z",
            "inputs": [{"trips": [trip("T2")]}, {"advance": "1s"}, {"orders": [held, moved]}, {"advance": "10s"},
                       {"trips": [trip("T1")]}],
            "expect": [{"at": "sink:business-events",
                        "events": [{"type": "EtaUpdated", "tx_id": "2", "eta": "2025-12-01T13:00:00Z",
                                    "trip_number": "TR-T1", **_rest(held)},
                                   {"type": "EtaUpdated", "tx_id": "3", "eta": "2025-12-01T15:00:00Z",
                                    "trip_number": "TR-T2", **_rest(moved)}]}]}
    assert _engine_case(tmp_path, monkeypatch, case)


def _rest(event):
    """The fields of an EtaUpdated of `event` that the case does not set itself."""
    from engine.expressions import compile_expression

    change = event["changes"][0]
    event_id = compile_expression("uuid5('EtaUpdated', tx, id)")({"tx": event["tx_id"], "id": change["after"]["id"]})
    return {"event_id": event_id, "occurred_at": event["occurred_at"], "order_id": change["after"]["id"],
            "previous_eta": change["before"]["eta"], "delay_minutes": None, "customer_code": "C1"}
