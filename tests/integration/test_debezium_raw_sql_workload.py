"""Real CDC under conditions the TMS simulator never makes, written as raw SQL: rows that exist
before Debezium starts (its initial snapshot); a handling unit and an order_stop moved to another
order; a long transaction over several orders committing while short ones commit meanwhile; a
TOASTed note body an UPDATE leaves unchanged (REPLICA IDENTITY DEFAULT: Debezium's placeholder);
ALTER TABLE ADD COLUMN mid-stream with a 41-digit numeric; an 'infinity' date and NULLs; rows
inserted and deleted in one transaction; transactions touching only other tables, a TRUNCATE
(Debezium skips it by default), logical decoding messages; a 2,500-row transaction (a 1.3 MB
domain event); a flow stopped and resumed in the middle; and Debezium's worker killed (kill -9)
and restarted, which sends again what it had not committed.

Checked: the transport-order domain events are exactly one per (transaction, order) the SQL
touched, none twice; and the Fast Storage equals PostgreSQL's final state (the TOASTed body kept).
"""

import json
import os
import signal
import sys
import time
import uuid

import duckdb
import psycopg
import pytest

from cli.main import main
from tests.integration.kafka_io import consume_all
from tests.services.postgres import run_script, start_service
from tests.services.test_postgres_debezium import DBZ_SCRIPT, DBZ_START_TIMEOUT
from tests.services.test_velocity_edges import ROOT, _normal, _select

confluent_kafka = pytest.importorskip("confluent_kafka")

O = {n: str(uuid.uuid5(uuid.NAMESPACE_URL, f"raw-sql/order-{n}")) for n in range(1, 7)}
H = {n: str(uuid.uuid5(uuid.NAMESPACE_URL, f"raw-sql/hu-{n}")) for n in range(1, 4)}
T, S, L, P = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"raw-sql/{n}")) for n in ("trip", "stop", "leg", "pickup"))
BODY = "".join(str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))) for i in range(300))  # ~11 KB, incompressible: TOASTed
BIG = "12345678901234567890.123456789012345678901"
LARGE = 2500
TS = "'2026-11-30T10:00:00Z'"


def _order(n, date="'2026-12-01'"):
    return (f"INSERT INTO transport_order (id, order_number, customer_code, origin_city, destination_address,"
            f" destination_city, destination_country, requested_delivery_date, total_weight_kg, created_at, updated_at)"
            f" VALUES ('{O[n]}', 'RAW-{n}', 'C{n}', 'Milano', 'Via 1', 'Torino', 'IT', {date}, {n}.5, {TS}, {TS});")


def _hu(hu_id, order, sscc):
    return (f"INSERT INTO handling_unit (id, order_id, sscc, kind, weight_kg, volume_m3, created_at, updated_at)"
            f" VALUES ('{hu_id}', '{O[order]}', '{sscc}', 'pallet', 1.5, 0.25, {TS}, {TS});")


EXISTING = " ".join([
    _order(1), _order(2), _order(3), _order(4), _hu(H[1], 1, "S1"), _hu(H[2], 2, "S2"),
    "ALTER TABLE note REPLICA IDENTITY DEFAULT;",  # an UPDATE then sends no before, and no unchanged TOAST value
    f"INSERT INTO note (id, order_id, kind, author, body, created_at) VALUES (1, '{O[1]}', 'internal', 'a',"
    f" '{BODY}', {TS});",
    f"INSERT INTO trip (id, trip_number, carrier_code, vehicle_plate, driver_name, service_date, planned_departure,"
    f" planned_arrival, distance_km, freight_cost, created_at, updated_at) VALUES ('{T}', 'TRIP-RAW', 'CAR', 'AB1',"
    f" 'Zoe', '2026-12-01', {TS}, {TS}, 10.5, 99.99, {TS}, {TS});",
    f"INSERT INTO stop (id, trip_id, sequence, kind, location_name, city, planned_arrival, updated_at) VALUES"
    f" ('{S}', '{T}', 1, 'depot', 'Hub', 'Milano', {TS}, {TS});",
    f"INSERT INTO leg (id, trip_id, sequence, from_stop_id, to_stop_id, planned_departure, planned_arrival,"
    f" distance_km, updated_at) VALUES ('{L}', '{T}', 1, '{S}', '{S}', {TS}, {TS}, 1.0, {TS});",
    f"INSERT INTO order_stop (order_id, stop_id, kind, created_at) VALUES ('{O[1]}', '{S}', 'pickup', {TS});",
    f"INSERT INTO leg_order (leg_id, order_id, handling_units, weight_kg, created_at) VALUES"
    f" ('{L}', '{O[1]}', 1, 1.5, {TS});",
    f"INSERT INTO pickup (id, order_id, address, city, pickup_date, window_start, window_end, created_at, updated_at)"
    f" VALUES ('{P}', '{O[1]}', 'Strada 7', 'Asti', '2026-12-01', {TS}, {TS}, {TS}, {TS});",
    "CREATE TABLE scratch (id int PRIMARY KEY); INSERT INTO scratch VALUES (1);",  # captured, read by no flow
])


def _sql(dsn, sql):
    """``sql`` as one transaction; its transaction id (text)."""
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            conn.execute(sql)
            return str(conn.execute("SELECT txid_current()").fetchone()[0])


@pytest.fixture(scope="module")
def raw_debezium(kafka_bootstrap, postgres_dsn, tmp_path_factory):
    """Rows written first, then Debezium started: its initial snapshot reads them."""
    _sql(postgres_dsn, EXISTING)
    state = str(tmp_path_factory.mktemp("debezium-raw-sql"))
    prefix = "raw" + uuid.uuid4().hex[:8]
    args = ["--bootstrap", kafka_bootstrap, "--dsn", postgres_dsn, "--topic-prefix", prefix]
    start_service("Debezium", DBZ_SCRIPT, state, args, timeout=DBZ_START_TIMEOUT)
    try:
        yield prefix, state, args
    finally:
        run_script(DBZ_SCRIPT, "stop", "--state-dir", state, timeout=90)


def _ended(bootstrap, prefix, txids):
    """Wait until Debezium published the END of every transaction of ``txids``."""
    deadline, ended = time.monotonic() + 60, set()
    while not set(txids) <= ended and time.monotonic() < deadline:
        found = consume_all(bootstrap, f"{prefix}.transaction", expected=10 ** 6, timeout=2)
        ended = {m["payload"]["id"].split(":")[0] for _, m, _ in found if m["payload"]["status"] == "END"}
    assert set(txids) <= ended, sorted(set(txids) - ended)


def _raw(bootstrap, topic):
    """Every message value of ``topic``, as bytes."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
    values, idle = [], time.monotonic() + 3
    try:
        while time.monotonic() < idle:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                values.append(message.value())
                idle = time.monotonic() + 1
    finally:
        consumer.close()
    return values


def _deploy(tmp_path, *topologies):
    for topology in topologies:
        assert main(["deploy", "-q", "--env", "kafka", "-r", str(tmp_path / "recovery" / topology),
                     f"topologies/velocity/{topology}.yaml"]) == 0, topology


def _streaming_offsets_committed(state):
    """Wait until the worker has committed a streaming position (Connect flushes every 5 s): a
    crash before that restarts it with no offsets, which is a new initial snapshot (snapshot.mode
    initial), not the redelivery this module crashes it for. The file is Java-serialized; the
    offset inside it is JSON text, and a streaming one names ``lsn_proc``."""
    path, deadline = os.path.join(state, "offsets.dat"), time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as offsets:
                if b"lsn_proc" in offsets.read():
                    return
        time.sleep(0.2)
    raise AssertionError(f"Debezium committed no streaming offset in 30 s ({path})")


def _crash_and_restart_debezium(state, args):
    """kill -9 the Kafka Connect worker this module started (its process group), then start it again."""
    with open(os.path.join(state, "debezium.json")) as info:
        pid = json.load(info)["pid"]
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    time.sleep(0.5)
    start_service("Debezium", DBZ_SCRIPT, state, args, timeout=DBZ_START_TIMEOUT)


def test_raw_sql_workload_gives_one_domain_event_per_transaction_and_order(
        kafka_bootstrap, postgres_dsn, raw_debezium, tmp_path, monkeypatch):
    prefix, state, args = raw_debezium
    expected = {}  # tx id -> the orders that get an event, with the tables of their changes

    def run(sql, orders):
        tx = _sql(postgres_dsn, sql)
        expected[tx] = orders
        return tx

    run(f"UPDATE handling_unit SET order_id = '{O[2]}', updated_at = now() WHERE id = '{H[1]}';",
        {O[1]: ["handling_unit"], O[2]: ["handling_unit"]})  # moved: both orders
    run(f"UPDATE order_stop SET order_id = '{O[3]}' WHERE order_id = '{O[1]}';",  # a key change: d + c
        {O[1]: ["order_stop"], O[3]: ["order_stop"]})
    # a long transaction over three orders, two short ones committing while it is open
    with psycopg.connect(postgres_dsn) as long:
        long.execute(f"UPDATE transport_order SET status = 'planned' WHERE id IN ('{O[1]}', '{O[2]}');")
        long.execute(_hu(H[3], 3, "S3") + f" UPDATE handling_unit SET weight_kg = 9 WHERE id = '{H[2]}';")
        run(f"UPDATE transport_order SET eta = now() WHERE id = '{O[4]}';", {O[4]: ["transport_order"]})
        run(f"UPDATE leg_order SET weight_kg = 2 WHERE order_id = '{O[1]}';", {O[1]: ["leg_order"]})
        long.execute(f"UPDATE transport_order SET cancel_reason = 'x' WHERE id = '{O[3]}';")
        expected[str(long.execute("SELECT txid_current()").fetchone()[0])] = {
            O[1]: ["transport_order"], O[2]: ["handling_unit", "transport_order"],
            O[3]: ["handling_unit", "transport_order"]}
        long.commit()
    toast = run("UPDATE note SET kind = 'customer' WHERE id = 1;", {O[1]: ["note"]})
    run(f"ALTER TABLE transport_order ADD COLUMN extra numeric; UPDATE transport_order SET extra = {BIG}"
        f" WHERE id = '{O[2]}';", {O[2]: ["transport_order"]})
    run(_order(5, date="'infinity'"), {O[5]: ["transport_order"]})
    run(f"INSERT INTO note (id, order_id, kind, author, body, created_at) VALUES (2, '{O[3]}', 'driver', 'b', 'x',"
        f" now()); DELETE FROM note WHERE id = 2; {_hu(str(uuid.uuid4()), 3, 'GONE')} DELETE FROM handling_unit"
        f" WHERE sscc = 'GONE';", {})  # inserted and deleted: nothing
    run(f"UPDATE trip SET status = 'departed' WHERE id = '{T}'; TRUNCATE scratch;", {})  # other tables only
    run(f"SELECT pg_logical_emit_message(true, 'velocity', 'in a transaction'); UPDATE transport_order"
        f" SET status = 'cancelled' WHERE id = '{O[5]}';", {O[5]: ["transport_order"]})
    _sql(postgres_dsn, "SELECT pg_logical_emit_message(false, 'velocity', 'outside one');")
    rows = ", ".join(f"('{uuid.uuid4()}', '{O[4]}', 'L{i}', 'parcel', {i}.5, 0.25, {TS}, {TS})" for i in range(LARGE))
    large = run("INSERT INTO handling_unit (id, order_id, sscc, kind, weight_kg, volume_m3, created_at, updated_at)"
                f" VALUES {rows};", {O[4]: ["handling_unit"]})
    _ended(kafka_bootstrap, prefix, list(expected))

    monkeypatch.chdir(ROOT)
    for name, value in {"KAFKA_BOOTSTRAP": kafka_bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_KAFKA_TAIL": "false",
                        "VF_OUT": str(tmp_path / "out"), "VF_DOMAIN_PREFIX": prefix}.items():
        monkeypatch.setenv(name, value)
    _deploy(tmp_path, "transport_order_domain")  # the flow stops here, and resumes below
    _streaming_offsets_committed(state)

    # more transactions, then the worker dies before committing its offsets (every 5 s): restarted, it
    # sends them again (tests/operators/test_merge_moves_redeliveries.py makes sure of that case)
    for n in (1, 2):
        run(f"UPDATE transport_order SET total_weight_kg = {n} WHERE id = '{O[n]}';", {O[n]: ["transport_order"]})
    time.sleep(1)  # published (well under 1 s), and most likely not yet committed (every 5 s)
    _crash_and_restart_debezium(state, args)
    run(f"UPDATE handling_unit SET order_id = '{O[1]}' WHERE id = '{H[1]}'; UPDATE transport_order SET"
        f" total_weight_kg = 7 WHERE id = '{O[1]}';", {O[1]: ["handling_unit", "transport_order"],
                                                      O[2]: ["handling_unit"]})
    _ended(kafka_bootstrap, prefix, list(expected))
    _deploy(tmp_path, "transport_order_domain", "pickup_domain", "trip_domain", "fast_storage")

    ends = [m["payload"]["id"] for _, m, _ in consume_all(kafka_bootstrap, f"{prefix}.transaction", 10 ** 6, timeout=2)
            if m["payload"]["status"] == "END"]
    sys.stderr.write(f"[raw-sql] Debezium sent {len(ends) - len(set(ends))} transactions again after the crash\n")
    dead = {p.name: p.read_text()[:2000] for p in (tmp_path / "out").glob("dead-letter/*.jsonl") if p.read_text()}
    assert not dead, dead
    raw = _raw(kafka_bootstrap, f"{prefix}.domain.transport_order")
    events = [json.loads(value) for value in raw]
    streamed = [e for e in events if not any(c["snapshot"] for c in e["changes"])]
    found = sorted((e["tx_id"], e["key"], sorted(e["changed_tables"])) for e in streamed)
    assert found == sorted((tx, key, tables) for tx, orders in expected.items() for key, tables in orders.items())
    snapshot = [(c["table"], str(c["after"].get("id"))) for e in events for c in e["changes"] if c["snapshot"]]
    assert len(snapshot) == len(set(snapshot)) == 9  # 4 orders, 2 units, 1 note, 1 stop link, 1 leg link
    assert {e["key"] for e in events if any(c["snapshot"] for c in e["changes"])} == {O[1], O[2], O[3], O[4]}

    [note] = [c for e in streamed if e["tx_id"] == toast for c in e["changes"]]
    assert note["before"] is None and note["after"]["body"] == "__debezium_unavailable_value"
    assert any(f'"extra":{BIG}'.encode() in value for value in raw)  # 41 digits, exact
    [big] = [e for e in streamed if e["tx_id"] == large]
    assert len(big["changes"]) == LARGE and max(map(len, raw)) > 10 ** 6

    fast = duckdb.connect(str(tmp_path / "out" / "fast_storage.duckdb"), read_only=True)
    with psycopg.connect(postgres_dsn) as pg:
        for name in ("transport_order", "handling_unit", "note", "order_stop", "leg_order", "pickup", "trip"):
            in_pg = [_normal(r) for r in pg.execute(_select(name, "pg")).fetchall()]
            stored = [_normal(r) for r in fast.execute(_select(name, "duckdb")).fetchall()]
            assert stored == in_pg, name
    assert fast.execute("SELECT body FROM note WHERE id = 1").fetchone()[0] == BODY  # not the placeholder
    fast.close()
