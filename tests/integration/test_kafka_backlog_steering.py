"""Backlog steering on real Kafka: Debezium topics whose END records were appended seconds
before their changes (a producer catching up sends the small messages of the transaction topic
first). merge_transactions holds a bounded number of transactions instead of all of them, and
writes the same events. Records are made by hand, as Debezium writes them (no simulator)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from engine import steering
from engine.operators import transaction_steer

TRANSACTIONS = 2000
SKEW_MS = 4000  # END of transaction i at BASE + i ms, its changes at BASE + SKEW_MS + i ms

FLOW = """\
    version: 1
    name: steered
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: "{prefix}.public.orders", tail: false, batch_size: 100}}}}
      lines: {{kafka: {{brokers: "{bootstrap}", topic: "{prefix}.public.lines", tail: false, batch_size: 100}}}}
      transactions: {{kafka: {{brokers: "{bootstrap}", topic: "{prefix}.transaction", tail: false, batch_size: 100}}}}
    steps:
      - id: changes
        from: [orders, lines]
        debezium: {{}}
      - id: merged
        from: [changes, transactions]
        merge_transactions:
          group: "if(table == 'orders', str(after.id), str(after.order_id))"
          markers: true
          tables: [orders, lines]
    sinks:
      out: {{from: merged, file: {{path: "{dir}/out-{run}.jsonl"}}}}
    dead_letter: {{file: {{path: "{dir}/dead-{run}.jsonl"}}}}
    """


def _change(table: str, tx: int, lsn: int, after: dict) -> bytes:
    source = {"version": "2.7.0.Final", "connector": "postgresql", "name": "tms", "ts_ms": 1_800_000_000_000 + tx,
              "snapshot": "false", "db": "tms", "schema": "public", "table": table, "txId": tx, "lsn": lsn}
    return json.dumps({"before": None, "after": after, "source": source, "op": "c",
                       "ts_ms": 1_800_000_000_000 + tx}).encode()


def _publish(bootstrap: str, prefix: str) -> None:
    # idempotent, as Connect's producer: a plain one's retries may reorder a topic, which Debezium never does
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    base = int(time.time() * 1000) - 60_000
    for i in range(TRANSACTIONS):
        tx, lsn = 5000 + i, 10_000 + 10 * i
        lines = 1 + i % 3
        producer.produce(f"{prefix}.public.orders", _change("orders", tx, lsn, {"id": i, "status": "new"}),
                         timestamp=base + SKEW_MS + i)
        for n in range(lines):
            producer.produce(f"{prefix}.public.lines",
                             _change("lines", tx, lsn + 1 + n, {"id": 10 * i + n, "order_id": i, "qty": n}),
                             timestamp=base + SKEW_MS + i)
        end = {"status": "END", "id": f"{tx}:{lsn + 9}", "ts_ms": 1_800_000_000_000 + tx, "event_count": 1 + lines,
               "data_collections": [{"data_collection": "public.orders", "event_count": 1},
                                    {"data_collection": "public.lines", "event_count": lines}]}
        producer.produce(f"{prefix}.transaction", json.dumps(end).encode(), timestamp=base + i)
    assert producer.flush(60) == 0


@pytest.fixture
def skewed_backlog(kafka_bootstrap, kafka_admin):
    prefix = f"steer{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}.public.orders", f"{prefix}.public.lines", f"{prefix}.transaction"]
    for future in kafka_admin.create_topics([NewTopic(t, 1, 1) for t in topics], operation_timeout=30).values():
        future.result(timeout=60)
    _publish(kafka_bootstrap, prefix)
    yield prefix
    kafka_admin.delete_topics(topics, operation_timeout=30)


def _run(flow, monkeypatch, bootstrap: str, prefix: str, run: str, pressure: int):
    """The flow's events and the most transactions its merge held at once."""
    peak = [0]
    after = transaction_steer.Steer.after

    def recording(self, s, now):
        peak[0] = max(peak[0], len(s.open))
        after(self, s, now)

    monkeypatch.setattr(transaction_steer.Steer, "after", recording)
    monkeypatch.setattr(steering, "PRESSURE", pressure)
    outcome = flow.run(FLOW, bootstrap=bootstrap, prefix=prefix, run=run)
    assert outcome.dead == []
    return sorted((e["tx_id"], e["key"], len(e["changes"])) for e in outcome.rows("out")), peak[0]


def test_a_skewed_backlog_is_merged_holding_a_bounded_number_of_transactions(
        kafka_bootstrap, skewed_backlog, flow, monkeypatch):
    steered, steered_peak = _run(flow, monkeypatch, kafka_bootstrap, skewed_backlog, "a", 300)
    aligned, aligned_peak = _run(flow, monkeypatch, kafka_bootstrap, skewed_backlog, "b", 10 ** 9)
    assert steered == aligned and len(steered) == TRANSACTIONS
    assert {key: changes for _, key, changes in steered} == {str(i): 2 + i % 3 for i in range(TRANSACTIONS)}
    assert aligned_peak > 1500  # timestamps alone: the END records run the skew ahead
    assert steered_peak < 700, steered_peak  # 300, plus what a round of 100-message batches brings
