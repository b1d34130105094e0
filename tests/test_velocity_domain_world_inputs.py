"""Velocity's trip and pickup domain flows (topologies/velocity/trip_domain.yaml, pickup_domain.yaml)
on Debezium change events as the PostgreSQL connector really sends them, not as the simulator writes
them. The cases that pass are also in topologies/velocity/{trip,pickup}_domain.world.test.yaml; here:

* a whole small world read as a consumer reads it: the initial snapshot released in parts (each
  table's topic read at its own pace), streaming changes of the same rows, a stop moved to another
  trip and back, a leg deleted, a transaction Kafka Connect sends twice. A consumer that drops an
  event id it has seen (what a deterministic id is for) and applies each row's changes by source
  position must end with the database's state: nothing lost, nothing doubled;
* what needed an engine change: Debezium's unchanged-TOAST placeholder in a row changed twice in
  one transaction, a TRUNCATE, and the commit time as `occurred_at`.
"""

import json
import pathlib
from datetime import datetime, timezone

from engine.testing.execution import run_case
from engine.testing.spec import load_test_file

ROOT = pathlib.Path(__file__).parents[1]
PLACEHOLDER = "__debezium_unavailable_value"
BASE_MS = 1764572400000


def _change(op, table, tx, lsn, before, after, snapshot="false", ts_ms=None):
    """A change event's payload (schemas.enable=false) as Debezium's PostgreSQL connector writes it."""
    commit = BASE_MS + lsn if ts_ms is None else ts_ms
    streaming = snapshot == "false"
    return {"before": before, "after": after, "op": op, "ts_ms": commit + 150,
            "source": {"version": "3.1.3.Final", "connector": "postgresql", "name": "tms", "ts_ms": commit,
                       "snapshot": snapshot, "db": "tms", "schema": "public", "table": table,
                       "txId": tx, "lsn": lsn, "xmin": None},
            "transaction": {"id": f"{tx}:{lsn}", "total_order": 1, "data_collection_order": 1} if streaming else None}


def _markers(tx, lsn, counts):
    """BEGIN and END of a transaction; ``counts``: its changes per table."""
    return [{"status": "BEGIN", "id": f"{tx}:{lsn - 1}", "event_count": None, "data_collections": None,
             "ts_ms": BASE_MS + lsn},
            {"status": "END", "id": f"{tx}:{lsn + 99}", "event_count": sum(counts.values()), "ts_ms": BASE_MS + lsn,
             "data_collections": [{"data_collection": f"public.{t}", "event_count": n} for t, n in counts.items()]}]


def _run(tmp_path, monkeypatch, topology, inputs, clock=None):
    """The domain events and the dead letters of one `velocity-flow test` case of a shipped topology."""
    case = {"name": "world", "inputs": inputs, "expect": [{"at": "sink:domain-events", "count": 0}]}
    if clock:
        case["clock"] = clock
    path = tmp_path / "world.test.yaml"
    path.write_text(json.dumps({"topology": str(ROOT / "topologies" / "velocity" / topology), "tests": [case]}))
    monkeypatch.chdir(ROOT)  # the domain schemas are relative to the repository
    test = load_test_file(str(path))
    assert not test.problems and len(test.cases) == 1, test.problems
    outcome = run_case(test.topology, test.cases[0])
    assert outcome.error is None, outcome.error
    return json.loads(json.dumps(outcome.seen["sink:domain-events"], default=str)), outcome.dead


def _applied(events):
    """The tables a consumer keeps: events whose id it has seen are dropped; a row's change applies
    when its source position (lsn, seq) is after the one the row holds (a delete keeps its position)."""
    seen, rows = set(), {}
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        for change in event["changes"]:
            row = change["after"] or change["before"]
            key = (change["table"], row["id"])
            position = (change["lsn"], change["seq"])
            if key in rows and rows[key][0] >= position:
                continue
            rows[key] = (position, change["after"])
    return {key: row for key, (_, row) in rows.items() if row is not None}


def trip(i, **columns):
    return {"id": i, "trip_number": f"TR-{i}", "status": "planned", **columns}


def stop(i, trip_id, **columns):
    return {"id": i, "trip_id": trip_id, "city": "Verona", "status": "planned", **columns}


def leg(i, trip_id, **columns):
    return {"id": i, "trip_id": trip_id, "sequence": int(i[1:]), **columns}


def test_a_consumer_of_the_trip_events_ends_with_the_databases_state(tmp_path, monkeypatch):
    snapshot = {"legs": [_change("r", "leg", 700, 5000, None, leg("L1", "T1"), "first"),
                         _change("r", "leg", 700, 5000, None, leg("L2", "T1"), "true")],
                "stops": [_change("r", "stop", 700, 5000, None, stop("S1", "T1"), "first_in_data_collection"),
                          _change("r", "stop", 700, 5000, None, stop("S2", "T2"), "last_in_data_collection")],
                "trips": [_change("r", "trip", 700, 5000, None, trip("T1"), "true"),
                          _change("r", "trip", 700, 5000, None, trip("T2"), "last")]}
    departed = _change("u", "trip", 701, 6000, trip("T1"), trip("T1", status="departed"))
    moved = _change("u", "stop", 702, 6100, stop("S1", "T1"), stop("S1", "T2"))
    deleted = _change("d", "leg", 702, 6110, leg("L2", "T1"), None)
    renamed = _change("u", "trip", 702, 6120, trip("T2"), trip("T2", trip_number="TR-T2/b"))
    back = _change("u", "stop", 703, 6200, stop("S1", "T2"), stop("S1", "T1", status="arrived"))
    transactions = _markers(701, 6000, {"trip": 1}) + _markers(702, 6100, {"stop": 1, "leg": 1, "trip": 1}) \
        + _markers(703, 6200, {"stop": 1})
    events, dead = _run(tmp_path, monkeypatch, "trip_domain.yaml", [
        {"transactions": transactions, "trips": snapshot["trips"] + [departed, renamed]},  # the trip topic first
        {"advance": "1s"},
        {"stops": snapshot["stops"] + [moved, back]},
        {"advance": "1s"},
        {"legs": snapshot["legs"] + [deleted, None]},  # the leg topic last (None: the delete's tombstone)
        {"advance": "1s"},
        {"transactions": _markers(702, 6100, {"stop": 1, "leg": 1, "trip": 1}), "stops": [moved]},  # sent again
    ], clock="2025-12-01T07:00:00Z")
    assert dead == []
    assert _applied(events) == {("trip", "T1"): trip("T1", status="departed"),
                                ("trip", "T2"): trip("T2", trip_number="TR-T2/b"),
                                ("leg", "L1"): leg("L1", "T1"),
                                ("stop", "S1"): stop("S1", "T1", status="arrived"),
                                ("stop", "S2"): stop("S2", "T2")}
    # one event per (transaction, trip); the trip a stop left gets one too; none twice
    streamed = sorted((e["tx_id"], e["key"]) for e in events if e["tx_id"] != "700")
    assert streamed == [("701", "T1"), ("702", "T1"), ("702", "T2"), ("703", "T1"), ("703", "T2")]
    by_id = {}
    for event in events:
        assert by_id.setdefault(event["event_id"], event) == event, "two different events share an id"
    assert all(c["snapshot"] == (e["tx_id"] == "700") for e in events for c in e["changes"])


def test_an_unchanged_toast_value_written_earlier_in_the_transaction_is_kept(tmp_path, monkeypatch):
    address = "Strada della Repubblica 7, " + "scala B " * 400  # ~3 KB: TOASTed
    pickup = {"id": "P1", "order_id": "O1", "status": "scheduled", "city": "Asti", "attempt": 1}
    inputs = {"pickups": [  # REPLICA IDENTITY DEFAULT: updates carry no before
        _change("c", "pickup", 990, 100, None, {**pickup, "address": address}),
        _change("u", "pickup", 990, 110, None, {**pickup, "address": PLACEHOLDER, "status": "completed"}),
        _change("u", "pickup", 991, 200, None, {**pickup, "id": "P2", "address": "Via Roma 1, " + address}),
        _change("u", "pickup", 991, 210, None, {**pickup, "id": "P2", "address": PLACEHOLDER, "attempt": 2})],
        "transactions": _markers(990, 100, {"pickup": 2}) + _markers(991, 200, {"pickup": 2})}
    events, dead = _run(tmp_path, monkeypatch, "pickup_domain.yaml", inputs)
    assert dead == [] and len(events) == 2
    after = {e["key"]: e["changes"][0]["after"] for e in events}
    assert after["P1"] == {**pickup, "address": address, "status": "completed"}  # the INSERT's address
    assert after["P2"] == {**pickup, "id": "P2", "address": "Via Roma 1, " + address, "attempt": 2}


def test_a_truncate_of_the_trip_table_is_not_silently_dropped(tmp_path, monkeypatch):
    truncate = _change("t", "trip", 995, 300, None, None)
    created = _change("c", "trip", 996, 400, None, trip("T9"))
    inputs = {"trips": [truncate, created],
              "transactions": _markers(995, 300, {"trip": 1}) + _markers(996, 400, {"trip": 1})}
    events, dead = _run(tmp_path, monkeypatch, "trip_domain.yaml", inputs)
    assert [e["key"] for e in events] == ["T9"]  # what comes after it is not held back
    assert any("truncate" in d["error"].lower() for d in dead), dead


def test_occurred_at_is_the_commit_time_whatever_order_the_tables_arrive_in(tmp_path, monkeypatch):
    commit = BASE_MS + 7000
    changed = _change("u", "trip", 997, 7000, trip("T7"), trip("T7", status="departed"), ts_ms=commit)
    stopped = _change("u", "stop", 997, 7010, stop("S7", "T7"), stop("S7", "T7", status="departed"), ts_ms=commit)
    stopped["ts_ms"] = commit + 90_000  # the connector was behind: it processed the stop 90 s after the commit
    inputs = {"trips": [changed], "stops": [stopped], "transactions": _markers(997, 7000, {"trip": 1, "stop": 1})}
    events, dead = _run(tmp_path, monkeypatch, "trip_domain.yaml", inputs)
    assert dead == [] and len(events) == 1
    occurred = datetime.fromisoformat(events[0]["occurred_at"])
    assert occurred == datetime.fromtimestamp(commit / 1000, timezone.utc)
