"""Technical -> domain latency of the shipped domain topologies alone (no Debezium, no PostgreSQL).

    python bench/domain_latency.py [--rates 200,2000] [--seconds 6] [--flows transport_order_domain,pickup_domain]

Publishes the simulator's Debezium change events and END markers for the tables a flow reads,
transaction by transaction at a steady rate, while the flow's Kafka environment
(`topologies/velocity/<flow>.yaml --env kafka`) runs. Every topic stamps messages with the broker's
append time (LogAppendTime), so one clock measures the hop: for each domain event, its append
time minus the append time of the last technical message of its transaction (the END marker or
the last change event, whichever came later) - exactly the issue's "technical -> domain".

Baseline, in the same run, on the same topics and rate: a raw confluent-kafka forwarder that
consumes the same technical topics, waits for each transaction to be complete (END seen and
its per-table counts reached, as merge_transactions does) and produces one message per
transaction. It parses each message with orjson (as the flow does) but casts nothing,
validates nothing, keeps no recovery state: the least latency a
Python Kafka -> Kafka hop that honours transaction boundaries can have here.

The publisher batches like Kafka Connect's producer does (linger 5 ms): with linger 0 the single
broker drowns in one-message requests at 2000 tx/s and every consumer, raw or ours, sees
~300 ms of delay that is the publisher's, not the consumer's.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic  # noqa: E402

from engine.simulation import generate  # noqa: E402

TABLES = {
    "transport_order_domain": ["transport_order", "note", "handling_unit", "order_stop", "leg_order"],
    "pickup_domain": ["pickup"],
    "trip_domain": ["trip", "leg", "stop"],
}
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}

# The baseline: consume the technical topics, emit one message per complete transaction.
FORWARDER = r'''
import json, sys, time
import orjson
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
bootstrap, out, seconds, tables, topics = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4].split(","), sys.argv[5:]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "raw", "enable.auto.commit": False})
consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics])
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
seen, expected, end = {}, {}, time.monotonic() + seconds
while time.monotonic() < end:
    done = []
    for message in consumer.consume(1000, 0.005):
        if message.error() or message.value() is None:
            continue
        value = orjson.loads(message.value())["payload"]
        if message.topic().endswith(".transaction"):
            if value["status"] == "END":
                tx = value["id"].split(":")[0]
                expected[tx] = sum(c["event_count"] for c in value["data_collections"]
                                   if c["data_collection"].split(".")[-1] in tables)
                done.append(tx)
        else:
            tx = str(value["source"]["txId"])
            seen[tx] = seen.get(tx, 0) + 1
            done.append(tx)
    for tx in dict.fromkeys(done):
        if tx in expected and seen.get(tx, 0) >= expected[tx]:
            del expected[tx]
            producer.produce(out, json.dumps({"tx_id": tx}).encode())
    producer.flush()
'''


def workload(tmp: str, tables: list, orders: int, seed: int) -> list:
    """[(topic suffix, message bytes)] per simulated transaction touching ``tables``, END last."""
    generate(tmp, orders=orders, seed=seed, with_schema=True)
    changes: dict = {}
    for table in tables:
        for line in open(os.path.join(tmp, "technical", f"{table}.jsonl")):
            if line.strip() != "null":
                tx = str(json.loads(line)["payload"]["source"]["txId"])
                changes.setdefault(tx, []).append((f"public.{table}", line.strip().encode()))
    out = []
    for line in open(os.path.join(tmp, "technical", "transaction.jsonl")):
        marker = json.loads(line)["payload"]
        tx = marker["id"].split(":")[0]
        if marker["status"] == "END" and tx in changes:
            out.append(changes[tx] + [("transaction", line.strip().encode())])
    return out


def publish(bootstrap: str, prefix: str, rate: float, txs: list) -> float:
    """Produce every transaction at ``rate`` per second; returns the achieved rate."""
    # idempotent, as Connect's producer: a plain one's retries on a busy broker reorder a topic,
    # which Debezium never does (the merge then takes the late changes for another transaction's)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "lz4",
                         "enable.idempotence": True})
    started = time.monotonic()
    for index, messages in enumerate(txs, start=1):
        for suffix, value in messages:
            producer.produce(f"{prefix}.{suffix}", value)
        producer.poll(0)
        time.sleep(max(0.0, started + index / rate - time.monotonic()))
    producer.flush()
    return len(txs) / (time.monotonic() - started)


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex}"})
    try:
        for _ in range(50):  # a topic created a moment ago may have no leader yet
            try:
                return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
            except KafkaException:
                time.sleep(0.2)
        raise SystemExit(f"no leader for {topic}")
    finally:
        consumer.close()


def read(bootstrap: str, topic: str, start: int = OFFSET_BEGINNING) -> list:
    """(append time ms, decoded value) of the messages of ``topic`` from ``start``, until 3 s of silence."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, 0, start)])
    out, idle = [], time.monotonic()
    while time.monotonic() - idle < 3:
        for message in consumer.consume(1000, 0.5):
            if not message.error() and message.value() is not None:
                out.append((message.timestamp()[1], json.loads(message.value())))
                idle = time.monotonic()
    consumer.close()
    return out


def technical_topics(prefix: str, tables: list) -> list:
    return [f"{prefix}.public.{t}" for t in tables] + [f"{prefix}.transaction"]


def tx_completed(bootstrap: str, prefix: str, tables: list) -> dict:
    """Append time of each transaction's last technical message."""
    return last_appends([read(bootstrap, topic) for topic in technical_topics(prefix, tables)])


def last_appends(topics: list) -> dict:
    """Transaction id -> latest append time among the (append time, message) lists ``topics``."""
    done: dict = {}
    for messages in topics:
        for stamp, value in messages:
            payload = value["payload"]
            tx = payload["id"].split(":")[0] if "status" in payload else str(payload["source"]["txId"])
            done[tx] = max(done.get(tx, 0), stamp)
    return done


def quantiles(values: list) -> tuple:
    values = sorted(values)
    return tuple(values[min(len(values) - 1, int(q * len(values)))] for q in (.5, .95, .99)) if values else (0, 0, 0)


def create_topics(bootstrap: str, names: list) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, 1, 1, config=APPEND_TIME) for n in names]).values():
        future.result()


def append_time(bootstrap: str, topic: str) -> None:
    """Switch a topic the flow provisioned to broker append time."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entry = ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)
    for future in admin.incremental_alter_configs([ConfigResource("topic", topic, incremental_configs=[entry])]).values():
        future.result()


def run_once(bootstrap: str, state: str, flow: str, rate: float, txs: list, epoch: str, raw: bool) -> list:
    """Latencies (ms) of one phase: the raw forwarder (``raw``) or the flow, on fresh topics."""
    tables, prefix = TABLES[flow], "lat" + uuid.uuid4().hex[:6]
    out = f"{prefix}.raw" if raw else f"velocity.domain.{flow.removesuffix('_domain')}"
    create_topics(bootstrap, technical_topics(prefix, tables) + ([out] if raw else []))
    topology = f"topologies/velocity/{flow}.yaml"
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_OUT": f"{state}/out",
           "VELOCITY_FLOW_ENV": "kafka"}  # the flow's Kafka environment
    if raw:
        command = [sys.executable, "-c", FORWARDER, bootstrap, out, str(len(txs) / rate + 12), ",".join(tables),
                   *technical_topics(prefix, tables)]
    else:
        subprocess.run([sys.executable, "-m", "cli", "deploy", "--provision-only", topology], cwd=ROOT, env=env,
                       capture_output=True, check=True, timeout=120)
        append_time(bootstrap, out)
        command = [sys.executable, "-m", "cli", "run", "-q", "-s", epoch, topology]
    # the domain topic outlives a phase: read only this one's events
    start = OFFSET_BEGINNING if raw else end_offset(bootstrap, out)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)  # the flow is up and tailing before the first transaction
        achieved = publish(bootstrap, prefix, rate, txs)
        time.sleep(3)
    finally:
        process.terminate()
        process.wait(timeout=60)
    completed = tx_completed(bootstrap, prefix, tables)
    latencies = [stamp - completed[value["tx_id"]] for stamp, value in read(bootstrap, out, start)
                 if value["tx_id"] in completed]
    return [achieved, latencies]


@contextmanager
def private_broker(prefix: str):
    """(state directory, bootstrap) of a broker of its own; both gone afterwards."""
    state = tempfile.mkdtemp(prefix=prefix)
    kafka = os.path.join(ROOT, "scripts", "kafka")
    bootstrap = subprocess.run([sys.executable, kafka, "start", "--port", "0", "--state-dir", f"{state}/kafka"],
                               capture_output=True, text=True, timeout=900, check=True).stdout.strip().splitlines()[-1]
    try:
        yield state, bootstrap
    finally:
        subprocess.run([sys.executable, kafka, "stop", "--state-dir", f"{state}/kafka"], capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)  # workloads and the broker's log: gigabytes per run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,2000", help="transactions per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=6, help="length of each steady run")
    parser.add_argument("--flows", default="transport_order_domain,pickup_domain", help=f"of {', '.join(TABLES)}")
    parser.add_argument("--epoch", default="2", help="Bytewax epoch interval of the flow, seconds")
    args = parser.parse_args()
    with private_broker("domain-latency-") as (state, bootstrap):
        print("technical -> domain, ms (broker append times); raw = a bare confluent-kafka forwarder, same run")
        print(f"{'flow':24} {'rate':>6} {'achieved':>8} {'raw p50/p95/p99':>18} {'flow p50/p95/p99':>18} {'p99 ratio':>9}")
        for flow in args.flows.split(","):
            for seed, rate in enumerate(float(r) for r in args.rates.split(",")):
                # ~3.5 transactions per order touch the transport-order tables, ~2 the pickup table
                txs = workload(f"{state}/tms-{flow}-{seed}", TABLES[flow], max(20, int(rate * args.seconds / 2)), seed + 1)
                txs = txs[:int(rate * args.seconds)]
                _, raw = run_once(bootstrap, state, flow, rate, txs, args.epoch, raw=True)
                achieved, ours = run_once(bootstrap, state, flow, rate, txs, args.epoch, raw=False)
                base, mine = quantiles(raw), quantiles(ours)
                print(f"{flow:24} {rate:6.0f} {achieved:8.0f} {'/'.join(f'{v:.0f}' for v in base):>18} "
                      f"{'/'.join(f'{v:.0f}' for v in mine):>18} {mine[2] / max(base[2], 1):9.2f}"
                      f"   (n={len(ours)} domain events, {len(raw)} raw)")


if __name__ == "__main__":
    main()
