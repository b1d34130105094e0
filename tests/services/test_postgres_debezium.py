"""Real change data capture: scripts/postgres (TMS database) -> scripts/debezium (Kafka Connect +
Debezium's PostgreSQL connector) -> scripts/kafka.  One SQL transaction, then the exact change
events on the table topics and the BEGIN/END records on the transaction topic.

Under CI (CI=true) a missing java/mvn/PostgreSQL FAILS the test; elsewhere it is skipped with the
reason.  See docs/debezium-stack.md.  PostgreSQL is the session's (tests/services/postgres.py).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.services.kafka import ROOT
from tests.services.postgres import run_script, start_service

confluent_kafka = pytest.importorskip("confluent_kafka")

DBZ_SCRIPT = os.path.join(ROOT, "scripts", "debezium")
# First debezium start may download Kafka Connect + Debezium with Maven (bounded by 600 s there).
DBZ_START_TIMEOUT = float(os.environ.get("VELOCITY_DEBEZIUM_FIXTURE_TIMEOUT") or 900)

ORDER_ID = "3f2b8c1e-0d7a-4c55-9a51-6b1f0e2d7c44"
CREATED = "2024-03-04T05:03:34Z"
PLANNED = "2024-03-04T06:15:00Z"

# One transaction: INSERT an order and two notes, UPDATE the order, DELETE + INSERT note 1 (an edit).
SQL = f"""
BEGIN;
INSERT INTO transport_order (id, order_number, customer_code, origin_city, destination_address,
    destination_city, destination_country, requested_delivery_date, total_weight_kg,
    declared_value, created_at, updated_at)
  VALUES ('{ORDER_ID}', 'TO-000001', 'CUST-7', 'Lyon', '12 rue de la Paix', 'Paris', 'FR',
          '2024-03-05', 12.5, 100.00, '{CREATED}', '{CREATED}');
INSERT INTO note (id, order_id, kind, author, body, created_at)
  VALUES (1, '{ORDER_ID}', 'delivery_instruction', 'ann', 'ring twice', '{CREATED}');
INSERT INTO note (id, order_id, kind, author, body, created_at)
  VALUES (2, '{ORDER_ID}', 'internal', 'bob', 'fragile', '{CREATED}');
UPDATE transport_order SET status = 'planned', planned_delivery_at = '2024-03-05T10:00:00Z',
    updated_at = '{PLANNED}' WHERE id = '{ORDER_ID}';
DELETE FROM note WHERE id = 1;
INSERT INTO note (id, order_id, kind, author, body, created_at)
  VALUES (1, '{ORDER_ID}', 'delivery_instruction', 'ann', 'ring three times', '{CREATED}');
COMMIT;
"""


@pytest.fixture(scope="module")
def debezium(kafka_bootstrap, postgres_dsn, tmp_path_factory):
    """(topic prefix, summary line) of a connector streaming the TMS database into Kafka."""
    state = str(tmp_path_factory.mktemp("debezium"))
    # A unique prefix: the broker may be shared (VELOCITY_KAFKA_BOOTSTRAP) and topics outlive us.
    prefix = "tms" + uuid.uuid4().hex[:8]
    started = time.monotonic()
    line = start_service("Debezium", DBZ_SCRIPT, state,
                  ["--bootstrap", kafka_bootstrap, "--dsn", postgres_dsn,
                   "--topic-prefix", prefix], timeout=DBZ_START_TIMEOUT)
    sys.stderr.write(f"[debezium] {line} ({time.monotonic() - started:.1f}s)\n")
    try:
        yield prefix, line
    finally:
        run_script(DBZ_SCRIPT, "stop", "--state-dir", state, timeout=90)


def _psql(dsn: str, sql: str) -> None:
    proc = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
                          input=sql, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _decimal(b64: str, scale: int) -> str:
    unscaled = int.from_bytes(base64.b64decode(b64), "big", signed=True)
    sign = "-" if unscaled < 0 else ""
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}" if scale else f"{sign}{digits}"


def _consume(bootstrap: str, topics: list[str], done, timeout: float = 45.0):
    """Records (topic, key, value) of `topics` from the beginning until done(records) or timeout."""
    from confluent_kafka import Consumer, KafkaException

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t-" + uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "topic.metadata.refresh.interval.ms": 500})
    consumer.subscribe(topics)
    records = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(records):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue  # not created yet: Connect creates topics on first record
                raise KafkaException(msg.error())
            records.append((msg.topic(), json.loads(msg.key()) if msg.key() else None,
                            json.loads(msg.value()) if msg.value() is not None else None))
    finally:
        consumer.close()
    return records


def _identity(record):
    """What makes a Debezium record the same change: Connect is at-least-once, so a task that
    restarts before its offsets were flushed (a rebalance on a busy machine) sends some again,
    with new processing times (ts_ms) but the same LSN."""
    topic, key, value = record
    if value is None:
        return topic, json.dumps(key, sort_keys=True), None
    payload = value["payload"]
    if "status" in payload:
        return topic, payload["status"], payload["id"]
    return topic, payload["op"], payload["source"]["lsn"]


def _distinct(records):
    """First delivery of each change; a redelivery must carry the same row images."""
    first = {}
    for record in records:
        seen = first.setdefault(_identity(record), record)
        if seen is not record and record[2] is not None and "before" in record[2]["payload"]:
            assert (seen[2]["payload"]["before"], seen[2]["payload"]["after"]) == (
                record[2]["payload"]["before"], record[2]["payload"]["after"])
    return list(first.values())


def test_distinct_drops_redeliveries_but_keeps_distinct_changes():
    def change(op, lsn, ts, body="x"):
        return ("p.note", {"id": 1}, {"payload": {"op": op, "before": None, "after": {"body": body},
                                                  "source": {"lsn": lsn}, "ts_ms": ts}})
    first, again, other = change("c", 10, 1), change("c", 10, 2), change("c", 11, 3)
    tx = ("p.transaction", None, {"payload": {"status": "BEGIN", "id": "7:9"}})
    assert _distinct([first, tx, again, other, tx]) == [first, tx, other]
    with pytest.raises(AssertionError):
        _distinct([first, change("c", 10, 2, body="changed")])


def test_sql_transaction_becomes_exact_debezium_change_events(kafka_bootstrap, postgres_dsn,
                                                              debezium):
    prefix, summary = debezium
    assert f"topic.prefix={prefix}" in summary and "state=RUNNING" in summary
    orders, notes, tx_topic = (f"{prefix}.public.transport_order", f"{prefix}.public.note",
                               f"{prefix}.transaction")

    _psql(postgres_dsn, SQL)

    def complete(records):
        distinct = _distinct(records)
        n_tx = sum(1 for t, _, _ in distinct if t == tx_topic)
        n_data = sum(1 for t, _, _ in distinct if t in (orders, notes))
        return n_tx >= 2 and n_data >= 7  # BEGIN+END; 6 change events + 1 tombstone
    records = _consume(kafka_bootstrap, [orders, notes, tx_topic], complete)
    assert complete(records), f"missing records, got {[(t, v and v['payload']) for t, _, v in records]}"
    records = _distinct(records)

    tx = [v["payload"] for t, _, v in records if t == tx_topic]
    order_events = [(k, v) for t, k, v in records if t == orders]
    note_events = [(k, v) for t, k, v in records if t == notes]
    assert len(tx) == 2 and len(order_events) == 2 and len(note_events) == 5

    # --- transaction topic: BEGIN and END with per-table counts
    begin, end = tx
    assert begin["status"] == "BEGIN" and begin["event_count"] is None
    assert begin["data_collections"] is None
    assert end["status"] == "END" and end["event_count"] == 6
    assert end["data_collections"] == [
        {"data_collection": "public.transport_order", "event_count": 2},
        {"data_collection": "public.note", "event_count": 4},
    ]
    tx_id = begin["id"].split(":")[0]
    assert end["id"].split(":")[0] == tx_id
    begin_lsn, end_lsn = int(begin["id"].split(":")[1]), int(end["id"].split(":")[1])
    assert begin_lsn < end_lsn and begin["ts_ms"] == end["ts_ms"]

    # --- data events: keys, ops, before/after (REPLICA IDENTITY FULL), transaction block
    events = []
    for k, v in order_events + note_events:
        if v is None:
            continue
        events.append(v["payload"])
    events.sort(key=lambda e: e["transaction"]["total_order"])
    assert [(e["source"]["table"], e["op"]) for e in events] == [
        ("transport_order", "c"), ("note", "c"), ("note", "c"), ("transport_order", "u"),
        ("note", "d"), ("note", "c")]
    assert [e["transaction"]["total_order"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e["transaction"]["data_collection_order"] for e in events] == [1, 1, 2, 2, 3, 4]
    lsns = [e["source"]["lsn"] for e in events]
    assert lsns == sorted(lsns) and len(set(lsns)) == 6
    assert begin_lsn <= lsns[0] and lsns[-1] < end_lsn
    for e in events:
        src = e["source"]
        assert str(src["txId"]) == tx_id
        assert e["transaction"]["id"] == f"{tx_id}:{src['lsn']}"
        assert (src["connector"], src["name"], src["db"], src["schema"], src["snapshot"]) == (
            "postgresql", prefix, postgres_dsn.rsplit("/", 1)[1], "public", "false")
        assert src["ts_ms"] == end["ts_ms"]  # commit time
        assert list(e) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us",
                           "ts_ns"]

    created, note1, note2, updated, deleted, reinserted = events
    row = created["after"]
    assert created["before"] is None
    assert row["id"] == ORDER_ID and row["order_number"] == "TO-000001"
    assert row["status"] == "created" and row["service_level"] == "standard"
    assert row["destination_country"] == "FR" and row["currency"] == "EUR"
    assert row["requested_delivery_date"] == 19787  # days since 1970-01-01
    assert _decimal(row["total_weight_kg"], 3) == "12.500"
    assert _decimal(row["declared_value"], 2) == "100.00"
    assert row["total_weight_kg"] == "MNQ=" and row["declared_value"] == "JxA="
    assert row["attributes"] == "{}" and row["trip_id"] is None
    # timestamptz: ZonedTimestamp, ISO-8601 UTC with the column's 6 fractional digits
    assert row["created_at"] == "2024-03-04T05:03:34.000000Z"

    assert updated["before"] == row  # the full old row, thanks to REPLICA IDENTITY FULL
    assert {k: v for k, v in updated["after"].items() if updated["before"][k] != v} == {
        "status": "planned", "planned_delivery_at": "2024-03-05T10:00:00.000000Z",
        "updated_at": "2024-03-04T06:15:00.000000Z"}

    assert note1["before"] is None and note1["after"]["body"] == "ring twice"
    assert note2["after"]["id"] == 2 and note2["after"]["kind"] == "internal"
    assert deleted["before"] == note1["after"] and deleted["after"] is None
    assert reinserted["before"] is None
    assert reinserted["after"] == dict(note1["after"], body="ring three times")

    # --- keys, the tombstone after the delete, and the inline Connect schemas
    assert [k["payload"] for k, _ in order_events] == [{"id": ORDER_ID}] * 2
    assert [k["payload"] for k, _ in note_events] == [{"id": 1}, {"id": 2}, {"id": 1}, {"id": 1},
                                                       {"id": 1}]
    assert [None if v is None else v["payload"]["op"] for _, v in note_events] == [
        "c", "c", "d", None, "c"]  # tombstone (null value) right after the delete
    schema = order_events[0][1]["schema"]
    assert schema["name"] == f"{prefix}.public.transport_order.Envelope"
    fields = {f["field"]: f for f in schema["fields"]}
    after_fields = {f["field"]: f for f in fields["after"]["fields"]}
    assert after_fields["total_weight_kg"]["name"] == "org.apache.kafka.connect.data.Decimal"
    assert after_fields["total_weight_kg"]["parameters"]["scale"] == "3"
    assert after_fields["created_at"]["name"] == "io.debezium.time.ZonedTimestamp"
    assert after_fields["id"]["name"] == "io.debezium.data.Uuid"
    assert fields["source"]["name"] == "io.debezium.connector.postgresql.Source"
