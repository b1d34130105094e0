"""Technical -> domain latency of one shipped topology alone (no Debezium, no PostgreSQL).

    python bench/domain_latency.py [--rates 200,1000] [--epoch 2]

Publishes simulated Debezium pickup events and their END markers to Kafka at a steady rate of
transactions, while `topologies/velocity/kafka/pickup_domain.yaml` runs; prints p50/p95/p99 of
(domain message time - time the transaction's END marker was sent), i.e. only our share of the
path, next to the producer's own publish latency (the baseline: technical message time - send
time) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from engine.simulation import generate  # noqa: E402

TOPOLOGY = "topologies/velocity/kafka/pickup_domain.yaml"


def transactions(tmp: str, orders: int, seed: int):
    """(tx id, pickup change events, END marker) of the simulated transactions touching pickups."""
    generate(tmp, orders=orders, seed=seed, with_schema=True)
    changes = {}
    for line in open(os.path.join(tmp, "technical", "pickup.jsonl")):
        if line.strip() != "null":
            event = json.loads(line)
            changes.setdefault(str(event["payload"]["source"]["txId"]), []).append(line.strip().encode())
    out = []
    for line in open(os.path.join(tmp, "technical", "transaction.jsonl")):
        marker = json.loads(line)["payload"]
        tx = marker["id"].split(":")[0]
        if marker["status"] == "END" and tx in changes:
            out.append((tx, changes[tx], line.strip().encode()))
    return out


def read(bootstrap: str, topic: str, since_ms: float) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    out, idle = [], time.monotonic()
    while time.monotonic() - idle < 3:
        for message in consumer.consume(1000, 0.5):
            if not message.error() and message.timestamp()[1] >= since_ms:
                out.append((message.timestamp()[1], json.loads(message.value())))
                idle = time.monotonic()
    consumer.close()
    return out


def quantiles(values: list) -> str:
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return f"p50 {pick(.5):6.0f}  p95 {pick(.95):6.0f}  p99 {pick(.99):6.0f} ms (n={len(values)})" if values else "no data"


def run_rate(bootstrap: str, prefix: str, rate: float, txs: list) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    sent, started_ms, started = {}, time.time() * 1000, time.monotonic()
    for index, (tx, changes, end) in enumerate(txs, start=1):
        for change in changes:
            producer.produce(f"{prefix}.public.pickup", change)
        producer.produce(f"{prefix}.transaction", end)
        producer.poll(0)
        sent[tx] = time.time() * 1000
        time.sleep(max(0.0, started + index / rate - time.monotonic()))
    producer.flush()
    achieved = len(txs) / (time.monotonic() - started)
    time.sleep(5)
    ours = [t - sent[v["tx_id"]] for t, v in read(bootstrap, "velocity.domain.pickup", started_ms) if v["tx_id"] in sent]
    baseline = [t - sent[tx] for t, v in read(bootstrap, f"{prefix}.transaction", started_ms)
                for tx in [v["payload"]["id"].split(":")[0]] if tx in sent]
    print(f"{rate:8.0f} {achieved:9.0f}  publish (baseline): {quantiles(baseline)}")
    print(f"{'':18}  END sent -> domain event: {quantiles(ours)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument("--epoch", default="2", help="Bytewax epoch interval of the flow, seconds")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="domain-latency-")
    kafka = os.path.join(ROOT, "scripts", "kafka")
    bootstrap = subprocess.run([sys.executable, kafka, "start", "--port", "0", "--state-dir", f"{state}/kafka"],
                               capture_output=True, text=True, timeout=900, check=True).stdout.strip().splitlines()[-1]
    flow = None
    try:
        print(f"{'rate':>8} {'achieved':>9}  (transactions/s)")
        for seed, rate in enumerate(float(r) for r in args.rates.split(",")):
            prefix = "lat" + uuid.uuid4().hex[:6]
            admin = AdminClient({"bootstrap.servers": bootstrap})
            for future in admin.create_topics([NewTopic(f"{prefix}.public.pickup", 1, 1),
                                               NewTopic(f"{prefix}.transaction", 1, 1)]).values():
                future.result()
            env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_OUT": f"{state}/out"}
            subprocess.run([sys.executable, "-m", "cli", "deploy", "--provision-only", TOPOLOGY], cwd=ROOT, env=env,
                           capture_output=True, check=True, timeout=120)
            flow = subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", "-s", args.epoch, TOPOLOGY],
                                    cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
            time.sleep(6)
            run_rate(bootstrap, prefix, rate, transactions(f"{state}/tms{seed}", orders=int(rate), seed=seed + 1))
            flow.terminate()
            flow.wait(timeout=60)
            flow = None
    finally:
        if flow is not None:
            flow.terminate()
        subprocess.run([sys.executable, kafka, "stop", "--state-dir", f"{state}/kafka"], capture_output=True, timeout=60)


if __name__ == "__main__":
    main()
