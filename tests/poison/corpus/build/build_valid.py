"""One-off: writes the hand-written valid inputs of the poison harness (Debezium 3.1.3 JsonConverter shapes)."""
import json, os
ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "valid")

def dump(path, records):
    path = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in records:
            f.write("null\n" if r is None else json.dumps(r, separators=(",", ":")) + "\n")

def source(table, tx, lsn, ts):
    return {"version": "3.1.3.Final", "connector": "postgresql", "name": "tms", "ts_ms": ts, "snapshot": "false",
            "db": "tms", "sequence": json.dumps([str(lsn - 100), str(lsn)], separators=(",", ":")),
            "ts_us": ts * 1000, "ts_ns": ts * 1000000, "schema": "public", "table": table, "txId": tx, "lsn": lsn, "xmin": None}

def change(table, op, before, after, tx, lsn, ts, order, dc_order):
    return {"before": before, "after": after, "source": source(table, tx, lsn, ts),
            "transaction": {"id": f"{tx}:{lsn}", "total_order": order, "data_collection_order": dc_order},
            "op": op, "ts_ms": ts + 350, "ts_us": (ts + 350) * 1000, "ts_ns": (ts + 350) * 1000000}

def begin(tx, lsn, ts):
    return {"status": "BEGIN", "id": f"{tx}:{lsn}", "event_count": None, "data_collections": None, "ts_ms": ts}

def end(tx, lsn, ts, counts):
    return {"status": "END", "id": f"{tx}:{lsn}", "event_count": sum(counts.values()),
            "data_collections": [{"data_collection": f"public.{t}", "event_count": n} for t, n in counts.items()], "ts_ms": ts}

def fld(name, type_, optional=True, logical=None, **extra):
    f = {"type": type_, "optional": optional}
    if logical:
        f["name"] = logical
        f["version"] = 1
    f.update(extra)
    f["field"] = name
    return f

SOURCE_SCHEMA = {"type": "struct", "fields": [
    fld("version", "string", False), fld("connector", "string", False), fld("name", "string", False),
    fld("ts_ms", "int64", False), fld("snapshot", "string", True, "io.debezium.data.Enum", parameters={"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}, default="false"),
    fld("db", "string", False), fld("sequence", "string"), fld("ts_us", "int64"), fld("ts_ns", "int64"),
    fld("schema", "string", False), fld("table", "string", False), fld("txId", "int64"), fld("lsn", "int64"), fld("xmin", "int64")],
    "optional": False, "name": "io.debezium.connector.postgresql.Source", "version": 1, "field": "source"}
TX_SCHEMA = {"type": "struct", "fields": [fld("id", "string", False), fld("total_order", "int64", False), fld("data_collection_order", "int64", False)],
             "optional": True, "name": "event.block", "version": 1, "field": "transaction"}

def envelope(table, row_fields):
    row = lambda which: {"type": "struct", "fields": row_fields, "optional": True, "name": f"tms.public.{table}.Value", "field": which}
    return {"type": "struct", "fields": [row("before"), row("after"), SOURCE_SCHEMA, TX_SCHEMA, fld("op", "string", False),
            fld("ts_ms", "int64"), fld("ts_us", "int64"), fld("ts_ns", "int64")],
            "optional": False, "name": f"tms.public.{table}.Envelope", "version": 2}

ZT = "io.debezium.time.ZonedTimestamp"
PICKUP_FIELDS = [fld("id", "string", False, "io.debezium.data.Uuid"), fld("order_id", "string", False, "io.debezium.data.Uuid"),
    fld("status", "string", False, default="scheduled"), fld("address", "string", False), fld("city", "string", False),
    fld("pickup_date", "int32", False, "io.debezium.time.Date"), fld("window_start", "string", False, ZT), fld("window_end", "string", False, ZT),
    fld("attempt", "int16", False, default=1), fld("completed_at", "string", True, ZT), fld("failed_at", "string", True, ZT),
    fld("failure_reason", "string"), fld("created_at", "string", False, ZT), fld("updated_at", "string", False, ZT)]
PICKUP_SCHEMA = envelope("pickup", PICKUP_FIELDS)

P1 = "0b6f1c52-3a44-4d0e-9d7e-1f1f5a0c0001"; O1 = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e00001"
P2 = "0b6f1c52-3a44-4d0e-9d7e-1f1f5a0c0002"; O2 = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e00002"
T0 = 1709528524000
def pickup_row(pid, oid, status="scheduled", completed_at=None):
    return {"id": pid, "order_id": oid, "status": status, "address": "Via Roma 12", "city": "Verona", "pickup_date": 19786,
            "window_start": "2024-03-04T06:29:00Z", "window_end": "2024-03-04T07:29:00Z", "attempt": 1,
            "completed_at": completed_at, "failed_at": None, "failure_reason": None,
            "created_at": "2024-03-04T05:02:04Z", "updated_at": completed_at or "2024-03-04T05:02:04Z"}
def with_schema(schema, payload):
    return {"schema": schema, "payload": payload}

p1 = pickup_row(P1, O1); p1done = pickup_row(P1, O1, "completed", "2024-03-04T06:40:00Z"); p2 = pickup_row(P2, O2)
dump("pickup_domain/technical/pickup.jsonl", [
    with_schema(PICKUP_SCHEMA, change("pickup", "c", None, p1, 1001, 704645000, T0, 1, 1)),
    with_schema(PICKUP_SCHEMA, change("pickup", "u", p1, p1done, 1002, 704646000, T0 + 60000, 2, 1)),
    with_schema(PICKUP_SCHEMA, change("pickup", "c", None, p2, 1003, 704647000, T0 + 120000, 1, 1)),
    with_schema(PICKUP_SCHEMA, change("pickup", "d", p2, None, 1003, 704647100, T0 + 120000, 2, 2)),
    None,  # the tombstone after the delete
])
dump("pickup_domain/technical/transaction.jsonl", [
    begin(1001, 704644000, T0), end(1001, 704645500, T0, {"transport_order": 1, "pickup": 1}),
    begin(1002, 704645900, T0 + 60000), end(1002, 704646500, T0 + 60000, {"handling_unit": 2, "pickup": 1}),
    begin(1003, 704646900, T0 + 120000), end(1003, 704647500, T0 + 120000, {"pickup": 2}),
])

# trips: payload only (schemas.enable=false)
T1 = "9a1e3c00-0000-4000-8000-00000000a001"; S0 = "9a1e3c00-0000-4000-8000-00000000b000"; L1 = "9a1e3c00-0000-4000-8000-00000000c001"
trip = {"id": T1, "trip_number": "TR-0001", "carrier_code": "CARR1", "vehicle_plate": "AB123CD", "driver_name": "Mario Rossi",
        "status": "planned", "service_date": 19786, "planned_departure": "2024-03-04T08:00:00Z", "planned_arrival": "2024-03-04T12:00:00Z",
        "actual_departure": None, "actual_arrival": None, "distance_km": "Ai8=", "freight_cost": "AYag",
        "created_at": "2024-03-04T05:30:00Z", "updated_at": "2024-03-04T05:30:00Z"}
trip_dep = dict(trip, status="departed", actual_departure="2024-03-04T08:05:00Z", updated_at="2024-03-04T08:05:00Z")
stop = {"id": S0, "trip_id": T1, "sequence": 0, "kind": "depot", "location_name": "Depot Verona", "city": "Verona", "status": "planned",
        "planned_arrival": None, "eta": None, "actual_arrival": None, "actual_departure": None, "updated_at": "2024-03-04T05:30:00Z"}
leg = {"id": L1, "trip_id": T1, "sequence": 1, "from_stop_id": S0, "to_stop_id": S0, "status": "planned",
       "planned_departure": "2024-03-04T08:00:00Z", "planned_arrival": "2024-03-04T12:00:00Z", "actual_departure": None,
       "actual_arrival": None, "distance_km": "Ai8=", "load_weight_kg": "AA==", "handling_units": 0, "updated_at": "2024-03-04T05:30:00Z"}
leg_run = dict(leg, status="in_progress", actual_departure="2024-03-04T08:05:00Z", updated_at="2024-03-04T08:05:00Z")
T2 = T0 + 3600000
dump("trip_domain/technical/trip.jsonl", [
    change("trip", "c", None, trip, 2001, 805000000, T2, 1, 1),
    change("trip", "u", trip, trip_dep, 2002, 806000000, T2 + 60000, 1, 1),
    change("trip", "u", trip_dep, trip_dep, 2003, 807000000, T2 + 120000, 1, 1),  # a no-op UPDATE
])
dump("trip_domain/technical/stop.jsonl", [change("stop", "c", None, stop, 2001, 805000100, T2, 2, 1)])
dump("trip_domain/technical/leg.jsonl", [
    change("leg", "c", None, leg, 2001, 805000200, T2, 3, 1),
    change("leg", "u", leg, leg_run, 2002, 806000100, T2 + 60000, 2, 1),
])
dump("trip_domain/technical/transaction.jsonl", [
    begin(2001, 804999000, T2), end(2001, 805000500, T2, {"trip": 1, "stop": 1, "leg": 1}),
    begin(2002, 805999000, T2 + 60000), end(2002, 806000500, T2 + 60000, {"trip": 1, "leg": 1}),
    begin(2003, 806999000, T2 + 120000), end(2003, 807000500, T2 + 120000, {"trip": 1}),
])

# transport orders: the order table with its Connect schema (a reduced column set), the rest payload only
ORDER_FIELDS = [fld("id", "string", False, "io.debezium.data.Uuid"), fld("order_number", "string", False),
    fld("status", "string", False, default="created"), fld("total_weight_kg", "bytes", False, "org.apache.kafka.connect.data.Decimal",
    parameters={"scale": "3", "connect.decimal.precision": "10"}, default="AA=="),
    fld("attributes", "string", True, "io.debezium.data.Json"), fld("eta", "string", True, ZT), fld("updated_at", "string", False, ZT)]
ORDER_SCHEMA = envelope("transport_order", ORDER_FIELDS)
OID = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e0aaaa"
order = {"id": OID, "order_number": "ORD-000001", "status": "created", "total_weight_kg": "AeJA",  # 123.456
         "attributes": '{"ref": 123456789012345678901234567890, "route": ["Verona", "Milano"]}', "eta": None, "updated_at": "2024-03-04T05:02:04Z"}
note = {"id": 1, "order_id": OID, "trip_id": None, "kind": "delivery_instruction", "author": "tms", "body": "ring twice", "created_at": "2024-03-04T05:02:04Z"}
note2 = dict(note, body="ring three times")
hu = {"id": "6e000000-0000-4000-8000-000000000001", "order_id": OID, "sscc": "003456789012345678", "kind": "pallet", "status": "registered",
      "weight_kg": "AeJA", "volume_m3": "A+g=", "last_scan_local": 1709539200000000, "created_at": "2024-03-04T05:02:04Z", "updated_at": "2024-03-04T05:02:04Z"}
ostop = {"order_id": OID, "stop_id": S0, "kind": "pickup", "created_at": "2024-03-04T05:30:00Z"}
legord = {"leg_id": L1, "order_id": OID, "handling_units": 1, "weight_kg": "AeJA", "created_at": "2024-03-04T05:30:00Z"}
T3 = T0 + 7200000
dump("transport_order_domain/technical/transport_order.jsonl", [with_schema(ORDER_SCHEMA, change("transport_order", "c", None, order, 3001, 905000000, T3, 1, 1))])
dump("transport_order_domain/technical/note.jsonl", [
    change("note", "c", None, note, 3001, 905000100, T3, 2, 1),
    change("note", "d", note, None, 3002, 906000000, T3 + 60000, 1, 1), None,
    change("note", "c", None, note2, 3002, 906000100, T3 + 60000, 2, 2),
])
dump("transport_order_domain/technical/handling_unit.jsonl", [change("handling_unit", "c", None, hu, 3003, 907000000, T3 + 120000, 1, 1)])
dump("transport_order_domain/technical/order_stop.jsonl", [change("order_stop", "c", None, ostop, 3003, 907000100, T3 + 120000, 2, 1)])
dump("transport_order_domain/technical/leg_order.jsonl", [change("leg_order", "c", None, legord, 3003, 907000200, T3 + 120000, 3, 1)])
dump("transport_order_domain/technical/transaction.jsonl", [
    begin(3001, 904999000, T3), end(3001, 905000500, T3, {"transport_order": 1, "note": 1}),
    begin(3002, 905999000, T3 + 60000), end(3002, 906000500, T3 + 60000, {"note": 2}),
    begin(3003, 906999000, T3 + 120000), end(3003, 907000500, T3 + 120000, {"handling_unit": 1, "order_stop": 1, "leg_order": 1}),
])


# --- domain events (Fast Storage, Event Engine), the example's orders, the window events ---

def domain_event(domain, etype, key, tx, ts, changes, eid):
    return {"event_id": eid, "type": etype, "domain": domain, "key": key, "occurred_at": ts, "tx_id": tx,
            "position": 905000100, "changed_tables": sorted({c["table"] for c in changes}), "changes": changes, "_key": key}
def ch(table, op, before, after, changed=None):
    row = after or before
    return {"table": table, "op": op, "before": before, "after": after,
            "changed": changed if changed is not None else sorted(k for k, v in row.items() if v is not None), "lsn": 905000100, "merged": 1}

OID = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e0f001"; TID = "9a1e3c00-0000-4000-8000-00000000f001"
PID = "0b6f1c52-3a44-4d0e-9d7e-1f1f5a0cf001"; SID = "9a1e3c00-0000-4000-8000-00000000f100"; LID = "9a1e3c00-0000-4000-8000-00000000f200"
order = {"id": OID, "order_number": "ORD-000042", "customer_code": "C042", "status": "planned", "service_level": "express",
         "origin_city": "Verona", "destination_address": "Via Po 1", "destination_city": "Milano", "destination_country": "IT",
         "requested_delivery_date": "2024-03-05", "total_weight_kg": 123.456, "declared_value": 1000.5, "currency": "EUR",
         "trip_id": TID, "planned_delivery_at": "2024-03-04T12:00:00+00:00", "eta": "2024-03-04T12:00:00+00:00",
         "departed_at": None, "delivered_at": None, "cancel_reason": None,
         "attributes": {"route": ["Verona", "Milano"], "ref": 123456789012345678901234567890},
         "created_at": "2024-03-04T05:02:04+00:00", "updated_at": "2024-03-04T06:00:00+00:00"}
note = {"id": 42, "order_id": OID, "trip_id": None, "kind": "customer", "author": "tms", "body": "fragile", "created_at": "2024-03-04T05:02:04+00:00"}
pickup = {"id": PID, "order_id": OID, "status": "scheduled", "address": "Via Roma 12", "city": "Verona", "pickup_date": "2024-03-04",
          "window_start": "2024-03-04T06:29:00+00:00", "window_end": "2024-03-04T07:29:00+00:00", "attempt": 1, "completed_at": None,
          "failed_at": None, "failure_reason": None, "created_at": "2024-03-04T05:02:04+00:00", "updated_at": "2024-03-04T05:02:04+00:00"}
trip = {"id": TID, "trip_number": "TR-0042", "carrier_code": "CARR1", "vehicle_plate": "AB123CD", "driver_name": "Mario Rossi",
        "status": "planned", "service_date": "2024-03-04", "planned_departure": "2024-03-04T08:00:00+00:00",
        "planned_arrival": "2024-03-04T12:00:00+00:00", "actual_departure": None, "actual_arrival": None, "distance_km": 55.9,
        "freight_cost": 1000.0, "created_at": "2024-03-04T05:30:00+00:00", "updated_at": "2024-03-04T05:30:00+00:00"}
stop = {"id": SID, "trip_id": TID, "sequence": 0, "kind": "depot", "location_name": "Depot Verona", "city": "Verona", "status": "planned",
        "planned_arrival": None, "eta": None, "actual_arrival": None, "actual_departure": None, "updated_at": "2024-03-04T05:30:00+00:00"}
leg = {"id": LID, "trip_id": TID, "sequence": 1, "from_stop_id": SID, "to_stop_id": SID, "status": "planned",
       "planned_departure": "2024-03-04T08:00:00+00:00", "planned_arrival": "2024-03-04T12:00:00+00:00", "actual_departure": None,
       "actual_arrival": None, "distance_km": 55.9, "load_weight_kg": 0.0, "handling_units": 0, "updated_at": "2024-03-04T05:30:00+00:00"}
note_gone = {"id": 43, "order_id": OID, "trip_id": None, "kind": "internal", "author": "tms", "body": "old", "created_at": "2024-03-04T05:02:04+00:00"}
dump("fast_storage/domain/transport_order.jsonl", [
    domain_event("transport_order", "TransportOrderCreated", OID, "5001", "2024-03-04T06:00:00+00:00",
                 [ch("transport_order", "c", None, order), ch("note", "c", None, note), ch("note", "c", None, note_gone)],
                 "11111111-0000-5000-8000-000000000001"),
    domain_event("transport_order", "TransportOrderUpdated", OID, "5002", "2024-03-04T06:05:00+00:00",
                 [ch("note", "d", note_gone, None)], "11111111-0000-5000-8000-000000000002"),
])
dump("fast_storage/domain/pickup.jsonl", [
    domain_event("pickup", "PickupCreated", PID, "5001", "2024-03-04T06:00:00+00:00", [ch("pickup", "c", None, pickup)],
                 "11111111-0000-5000-8000-000000000003")])
dump("fast_storage/domain/trip.jsonl", [
    domain_event("trip", "TripCreated", TID, "5003", "2024-03-04T06:10:00+00:00",
                 [ch("trip", "c", None, trip), ch("stop", "c", None, stop), ch("leg", "c", None, leg)],
                 "11111111-0000-5000-8000-000000000004")])

# event engine: domain events whose net changes are (or are not) business events
EO = "5d2f7e10-8b1c-4c55-a1a2-33b0a9e0e001"; EP = "0b6f1c52-3a44-4d0e-9d7e-1f1f5a0ce001"
o_planned = dict(order, id=EO, status="planned", eta="2024-03-04T12:00:00+00:00")
o_transit = dict(o_planned, status="in_transit", departed_at="2024-03-04T08:05:00+00:00")
o_late = dict(o_transit, eta="2024-03-04T12:30:00+00:00")
p_sched = dict(pickup, id=EP, order_id=EO)
p_done = dict(p_sched, status="completed", completed_at="2024-03-04T06:45:00+00:00")
p_moved = dict(p_sched, address="Via Roma 14")
dump("event_engine/domain/transport_order.jsonl", [
    domain_event("transport_order", "TransportOrderUpdated", EO, "6001", "2024-03-04T08:05:00+00:00",
                 [ch("transport_order", "u", o_planned, o_transit, ["departed_at", "status"])], "22222222-0000-5000-8000-000000000001"),
    domain_event("transport_order", "TransportOrderUpdated", EO, "6002", "2024-03-04T10:00:00+00:00",
                 [ch("transport_order", "u", o_transit, o_late, ["eta"])], "22222222-0000-5000-8000-000000000002"),
])
dump("event_engine/domain/pickup.jsonl", [
    domain_event("pickup", "PickupUpdated", EP, "6003", "2024-03-04T06:45:00+00:00",
                 [ch("pickup", "u", p_sched, p_done, ["completed_at", "status"])], "22222222-0000-5000-8000-000000000003"),
    domain_event("pickup", "PickupUpdated", EP, "6004", "2024-03-04T06:50:00+00:00",
                 [ch("pickup", "u", p_sched, p_moved, ["address"])], "22222222-0000-5000-8000-000000000004"),
])

# the example topology (topologies/examples/transport_orders.yaml)
dump("examples/transport_order.jsonl", [
    {"order_id": "1", "status": "new", "weight_kg": "10.5", "customer": "ACME", "planned_at": "2026-11-02T06:00:02Z", "destination": {"city": "Milano", "country": "IT"}},
    {"order_id": "2", "status": "DRAFT", "weight_kg": "20", "customer": "ACME", "planned_at": "2026-11-02T06:00:03Z", "destination": {"city": "Milano", "country": "IT"}},
    {"order_id": "3", "status": "IN_TRANSIT", "weight_kg": "1500.25", "customer": "Initech", "planned_at": "2026-11-02T06:01:00+01:00", "destination": {"city": "Bologna", "country": "IT"}},
    {"order_id": "4", "status": "NEW", "weight_kg": "0", "customer": "Umbrella", "planned_at": "2026-11-02T06:02:00Z", "destination": {"city": "Torino", "country": "IT"}},
    {"order_id": "5", "status": "new", "weight_kg": 2.5, "customer": "ACME", "planned_at": "2026-11-02T06:03:00Z", "destination": {"city": "Milano", "country": "IT"}},
])
# the harness's own window topology (tests/poison/corpus/topologies/windows.yaml)
dump("windows/events.jsonl", [
    {"k": "a", "ts": "2024-03-04T05:00:01Z", "v": "1"}, {"k": "a", "ts": "2024-03-04T05:10:00Z", "v": "2"},
    {"k": "b", "ts": 1709528700000, "v": "3"}, {"k": "a", "ts": "2024-03-04T05:59:59.999Z", "v": "4"},
])
