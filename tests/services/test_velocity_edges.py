"""The real CDC path on a workload written in raw SQL, independent of the simulator, with the
cases that broke the flows before: rows that exist before Debezium starts (its initial
snapshot: op r, no transaction markers) and are then changed and deleted; an incremental
snapshot of two tables (signal table, chunks of 2 rows) while writes continue; handling units that
move between orders inside one 5 s MicroBatch period (in both chunk orders); jsonb holding
30-digit integers and 20-digit decimals; +/-infinity timestamps; NULL in every nullable
column; unicode and quotes; transactions from concurrent connections. The Fast Storage must
equal PostgreSQL's final state for every table, row and column; the business events must be
exactly the expected ones (none for snapshot rows); nothing may be dead-lettered.
"""

import json
import os
import pathlib
import sys
import threading
import time
import uuid
from decimal import Decimal

import duckdb
import psycopg
import pytest

from cli.main import main
from engine.simulation.schema import TABLES
from tests.integration.kafka_io import consume_all
from tests.services.postgres import run_script as _run
from tests.services.postgres import start_service as _start
from tests.services.test_postgres_debezium import DBZ_SCRIPT, DBZ_START_TIMEOUT

ROOT = pathlib.Path(__file__).parents[2]
CHAIN = ("transport_order_domain", "pickup_domain", "trip_domain", "fast_storage", "event_engine")


def _id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"velocity-edges/{name}"))


O = {n: _id(f"order-{n}") for n in range(1, 7)}
H = {n: _id(f"hu-{n}") for n in range(1, 6)}
P = {n: _id(f"pickup-{n}") for n in range(1, 4)}
S = {n: _id(f"stop-{n}") for n in range(1, 3)}
T, L = _id("trip"), _id("leg")
BIG = '{"n": 123456789012345678901234567890, "d": 1234567890.1234567890, "list": [-98765432109876543210987654321, 0.10000000000000000001], "q": "\\"quoted\\" and \'single\'", "u": "Zürich → Łódź 東京 🚚"}'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _order(n: int, status: str = "created", eta: str = "NULL", planned: str = "NULL", attributes: str = "'{}'") -> str:
    return (f"INSERT INTO transport_order (id, order_number, customer_code, status, origin_city, destination_address,"
            f" destination_city, destination_country, requested_delivery_date, total_weight_kg, declared_value,"
            f" trip_id, planned_delivery_at, eta, attributes, created_at, updated_at) VALUES ('{O[n]}', 'EDGE-{n}',"
            f" 'C''{n}', '{status}', 'Milano', 'Via dell''Orso 1, \"Corte\" ü', 'Torino', 'IT', '2026-12-0{n}', {n}.125,"
            f" NULL, NULL, {planned}, {eta}, {attributes}::jsonb, '2026-11-30T10:00:00.123456Z', '2026-11-30T10:00:00Z');")


def _hu(n: int, order: int) -> str:
    return (f"INSERT INTO handling_unit (id, order_id, sscc, kind, weight_kg, volume_m3, last_scan_local, created_at,"
            f" updated_at) VALUES ('{H[n]}', '{O[order]}', 'SSCC-{n}', 'pallet', {n}.5, 1.25, NULL,"
            f" '2026-11-30T10:00:00Z', '2026-11-30T10:00:00Z');")


def _pickup(n: int, order: int, status: str = "scheduled", completed: str = "NULL") -> str:
    return (f"INSERT INTO pickup (id, order_id, status, address, city, pickup_date, window_start, window_end,"
            f" completed_at, created_at, updated_at) VALUES ('{P[n]}', '{O[order]}', '{status}', 'Strada 7', 'Asti',"
            f" '2026-12-01', '2026-12-01T08:00:00Z', '2026-12-01T12:00:00Z', {completed},"
            f" '2026-11-30T10:00:00Z', '2026-11-30T10:00:00Z');")


# Before Debezium starts: captured by its initial snapshot (op r, no BEGIN/END).
EXISTING = "\n".join([
    "BEGIN;",
    "CREATE TABLE debezium_signal (id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048));",
    _order(1), _order(2), _order(3, status="planned", attributes=_literal(BIG)),
    _hu(1, 1), _hu(2, 2), _hu(3, 3),
    _pickup(1, 1), _pickup(2, 2, status="completed", completed="'2026-11-30T09:00:00Z'"),  # no event: old news
    "INSERT INTO note (id, order_id, kind, author, body, created_at) VALUES"
    " (9000000000000000001, '" + O[1] + "', 'internal', 'Ann', 'to be deleted', '2026-11-30T10:00:00Z'),"
    " (9000000000000000002, '" + O[2] + "', 'customer', 'Bob', 'kept: ''quotes'' \"and\" 🚚', '2026-11-30T10:00:00Z');",
    # a trip with its stops, leg and links, so every table has rows (and Debezium a topic for it)
    f"INSERT INTO trip (id, trip_number, carrier_code, vehicle_plate, driver_name, service_date, planned_departure,"
    f" planned_arrival, distance_km, freight_cost, created_at, updated_at) VALUES ('{T}', 'TRIP-E', 'CAR', 'AB123CD',"
    f" 'Zoë O''Neil', '2026-12-01', '2026-12-01T06:00:00Z', '2026-12-01T18:00:00Z', 321.5, 999.99,"
    f" '2026-11-30T10:00:00Z', '2026-11-30T10:00:00Z');",
    f"INSERT INTO stop (id, trip_id, sequence, kind, location_name, city, planned_arrival, updated_at) VALUES"
    f" ('{S[1]}', '{T}', 1, 'depot', 'Hub', 'Milano', '2026-12-01T06:00:00Z', '2026-11-30T10:00:00Z'),"
    f" ('{S[2]}', '{T}', 2, 'delivery', 'Cliente \"A\"', 'Torino', '2026-12-01T09:00:00Z', '2026-11-30T10:00:00Z');",
    f"INSERT INTO leg (id, trip_id, sequence, from_stop_id, to_stop_id, planned_departure, planned_arrival,"
    f" distance_km, updated_at) VALUES ('{L}', '{T}', 1, '{S[1]}', '{S[2]}', '2026-12-01T06:00:00Z',"
    f" '2026-12-01T09:00:00Z', 140.0, '2026-11-30T10:00:00Z');",
    f"INSERT INTO order_stop (order_id, stop_id, kind, created_at) VALUES ('{O[1]}', '{S[1]}', 'pickup',"
    f" '2026-11-30T10:00:00Z');",
    f"INSERT INTO leg_order (leg_id, order_id, handling_units, weight_kg, created_at) VALUES ('{L}', '{O[1]}', 1,"
    f" 1.5, '2026-11-30T10:00:00Z');",
    "COMMIT;",
])

# After the snapshot, streaming. Each entry is one transaction; "parallel" ones run on two connections.
STREAM = [
    # snapshot rows changed and deleted
    f"UPDATE transport_order SET status = 'planned', updated_at = '2026-11-30T11:00:00Z' WHERE id = '{O[1]}';"
    f" DELETE FROM note WHERE id = 9000000000000000001;",
    f"DELETE FROM handling_unit WHERE id = '{H[3]}'; UPDATE transport_order SET total_weight_kg = 0 WHERE id = '{O[3]}';",
    # a key move: H1 from order 1 to order 2, then changed again under order 2 (same 5 s period)
    f"UPDATE handling_unit SET order_id = '{O[2]}', updated_at = '2026-11-30T11:01:00Z' WHERE id = '{H[1]}';",
    f"UPDATE handling_unit SET weight_kg = 222.222, updated_at = '2026-11-30T11:02:00Z' WHERE id = '{H[1]}';",
    # the other chunk order: H2 from order 2 to order 1
    f"UPDATE handling_unit SET order_id = '{O[1]}', updated_at = '2026-11-30T11:03:00Z' WHERE id = '{H[2]}';",
    f"UPDATE handling_unit SET weight_kg = 111.111 WHERE id = '{H[2]}';",
    # edge values on new rows: +/-infinity, NULLs, big jsonb numbers
    _order(4, eta="'infinity'", planned="'-infinity'", attributes=_literal(BIG)) + " " + _hu(4, 4),
    _order(5) + " " + _pickup(3, 5),
    # business events with legitimately NULL fields
    f"UPDATE transport_order SET eta = '2026-12-05T10:00:00Z' WHERE id = '{O[5]}';",  # EtaUpdated, no planned time
    f"UPDATE transport_order SET status = 'in_transit' WHERE id = '{O[5]}';",  # ShipmentDeparted, no trip, no time
    f"UPDATE pickup SET status = 'completed', completed_at = '2026-12-01T09:30:00.654321Z' WHERE id = '{P[1]}';",
    f"UPDATE leg SET status = 'in_progress', actual_departure = '2026-12-01T06:05:00.000001Z' WHERE id = '{L}';"
    f" UPDATE stop SET status = 'departed', actual_departure = '2026-12-01T06:05:00Z' WHERE id = '{S[1]}';",
    # a snapshot row deleted, and an order created and deleted again
    f"DELETE FROM pickup WHERE id = '{P[2]}';",
    _order(6) + " " + _hu(5, 6),
    f"DELETE FROM handling_unit WHERE id = '{H[5]}'; DELETE FROM transport_order WHERE id = '{O[6]}';",
]
PARALLEL = [  # (connection A, connection B), committed concurrently
    (f"UPDATE transport_order SET declared_value = 10.50 WHERE id = '{O[1]}';",
     f"UPDATE transport_order SET declared_value = 20.25 WHERE id = '{O[2]}';"),
    (f"UPDATE transport_order SET cancel_reason = 'Kündigung \"sofort\"' WHERE id = '{O[3]}';",
     f"UPDATE handling_unit SET status = 'loaded' WHERE id = '{H[2]}';"),  # H4 does not exist yet
]
EXPECTED_EVENTS = sorted([("EtaUpdated", O[4], None),  # created with an eta, even an infinite one (docs/tms.md)
                          ("EtaUpdated", O[5], None), ("ShipmentDeparted", O[5], None),
                          ("PickupCompleted", O[1], P[1])])


def _psql(dsn: str, sql: str, txids: list = None) -> None:
    """``sql`` as one transaction; its id appended to ``txids``."""
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            conn.execute(sql.replace("BEGIN;", "").replace("COMMIT;", ""))
            txid = conn.execute("SELECT txid_current()").fetchone()[0]
    if txids is not None:
        txids.append(str(txid))


@pytest.fixture(scope="module")
def edge_debezium(kafka_bootstrap, postgres_dsn, tmp_path_factory):  # noqa: F811
    """Rows written first, then Debezium started: its initial snapshot reads them."""
    _psql(postgres_dsn, EXISTING)
    state = str(tmp_path_factory.mktemp("debezium-edges"))
    prefix = "edge" + uuid.uuid4().hex[:8]
    line = _start("Debezium", DBZ_SCRIPT, state, ["--bootstrap", kafka_bootstrap, "--dsn", postgres_dsn,
                                                   "--topic-prefix", prefix], timeout=DBZ_START_TIMEOUT)
    sys.stderr.write(f"[debezium] {line}\n")
    try:
        yield prefix
    finally:
        _run(DBZ_SCRIPT, "stop", "--state-dir", state, timeout=90)


def _timestamp(column: str, database: str) -> str:
    """A timestamp as comparable text in either database: ISO with microseconds in UTC, or +/-infinity."""
    if database == "pg":
        return (f"CASE WHEN {column} IS NULL THEN NULL WHEN NOT isfinite({column}) THEN {column}::text "
                f"ELSE to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') END")
    return (f"CASE WHEN {column} IS NULL THEN NULL WHEN NOT isfinite({column}) THEN CAST({column} AS VARCHAR) "
            f"ELSE strftime({column}, '%Y-%m-%dT%H:%M:%S.%f') END")


def _select(name: str, database: str) -> str:
    parts = []
    for column in TABLES[name].columns:
        if column.pg_type in ("timestamptz", "timestamp"):
            parts.append(_timestamp(column.name, database))
        elif column.pg_type == "jsonb":
            parts.append(f"{column.name}::text" if database == "pg" else f"CAST({column.name} AS VARCHAR)")
        else:
            parts.append(f"CAST({column.name} AS {'text' if database == 'pg' else 'VARCHAR'})")
    return f"SELECT {', '.join(parts)} FROM {name} ORDER BY {', '.join(TABLES[name].primary_key)}"


def _normal(row) -> tuple:
    out = []
    for value in row:
        if isinstance(value, str) and value[:1] in "{[":
            value = json.loads(value, parse_float=Decimal)  # exact numbers, whatever the spacing
        elif isinstance(value, str):
            try:
                value = Decimal(value).normalize()  # 10.500 == 10.5
            except ArithmeticError:
                pass
        out.append(value)
    return tuple(out)


def test_edge_workload_through_the_real_stack_equals_postgres(kafka_bootstrap, postgres_dsn, edge_debezium,  # noqa: F811
                                                              tmp_path, monkeypatch):
    prefix = edge_debezium
    started = time.monotonic()
    txids: list = []
    for sql in STREAM[:6]:
        _psql(postgres_dsn, sql, txids)
    # an incremental snapshot of two tables (chunks of 2 rows) while the writes go on
    _psql(postgres_dsn, "INSERT INTO debezium_signal (id, type, data) VALUES ('incremental-1', 'execute-snapshot',"
                        " '{\"data-collections\": [\"public.transport_order\", \"public.handling_unit\"],"
                        " \"type\": \"incremental\"}');")
    for pair in PARALLEL:
        threads = [threading.Thread(target=_psql, args=(postgres_dsn, sql, txids)) for sql in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    for sql in STREAM[6:]:
        _psql(postgres_dsn, sql, txids)
    assert len(txids) == len(STREAM) + 2 * len(PARALLEL)  # a failing thread would be missing here
    deadline, ended = time.monotonic() + 180, set()
    while not set(txids) <= ended and time.monotonic() < deadline:  # every transaction's END is on Kafka
        markers = consume_all(kafka_bootstrap, f"{prefix}.transaction", expected=10 ** 6, timeout=10)
        ended = {m.get("payload", m)["id"].split(":")[0] for _, m, _ in markers
                 if m.get("payload", m)["status"] == "END"}
    assert set(txids) <= ended, sorted(set(txids) - ended)
    deadline, reads = time.monotonic() + 120, 0
    with psycopg.connect(postgres_dsn) as pg:
        rows_now = pg.execute("SELECT count(*) FROM transport_order").fetchone()[0]
    while reads < rows_now and time.monotonic() < deadline:  # the incremental snapshot went through the table
        found = consume_all(kafka_bootstrap, f"{prefix}.public.transport_order", expected=10 ** 6, timeout=5)
        reads = sum(1 for _, m, _ in found if m is not None and m.get("payload", m) is not None
                    and m.get("payload", m).get("source", {}).get("snapshot") == "incremental")
    assert reads >= rows_now, f"{reads} incremental reads of {rows_now} rows"

    monkeypatch.chdir(ROOT)
    for name, value in {"KAFKA_BOOTSTRAP": kafka_bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_KAFKA_TAIL": "false",
                        "VF_OUT": str(tmp_path / "out"), "VF_DOMAIN_PREFIX": prefix}.items():  # topics of our own
        monkeypatch.setenv(name, value)
    for topology in CHAIN:
        assert main(["deploy", "-q", "--env", "kafka", "-r", str(tmp_path / "recovery" / topology),
                     f"topologies/velocity/{topology}.yaml"]) == 0, topology

    dead = {p.name: p.read_text() for p in (tmp_path / "out").glob("dead-letter/*.jsonl") if p.read_text().strip()}
    assert not dead, dead
    fast = duckdb.connect(str(tmp_path / "out" / "fast_storage.duckdb"), read_only=True)
    with psycopg.connect(postgres_dsn) as pg:
        for name in TABLES:
            in_pg = [_normal(r) for r in pg.execute(_select(name, "pg")).fetchall()]
            stored = [_normal(r) for r in fast.execute(_select(name, "duckdb")).fetchall()]
            assert stored == in_pg, name
    fast.close()

    found = consume_all(kafka_bootstrap, f"{prefix}.business.events", expected=len(EXPECTED_EVENTS), timeout=30)
    ours = [v for _, v, _ in found if v.get("order_id") in O.values()]
    assert sorted((v["type"], v["order_id"], v.get("pickup_id")) for v in ours) == EXPECTED_EVENTS
    departed = next(v for v in ours if v["type"] == "ShipmentDeparted")
    assert departed["trip_id"] is None and departed["departed_at"] is None
    assert time.monotonic() - started < 900
