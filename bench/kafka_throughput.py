"""Kafka -> Kafka throughput of a topology vs the raw confluent-kafka ceiling, in one run.

    python bench/kafka_throughput.py [--events 1000000] [--partitions 4] [--bootstrap HOST:PORT]

Produces N Debezium-looking JSON change events into a topic, then measures on the same broker:
  * raw: a confluent-kafka consumer reading every message and a producer writing each value
    to another topic, nothing else (the ceiling of this machine and broker);
  * topology: a cast + filter + map topology, Kafka source -> Kafka sink, one worker.
Prints events/s of both and the ratio topology / raw. Without --bootstrap (or
VELOCITY_KAFKA_BOOTSTRAP) it starts a broker with scripts/kafka and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from engine.compiler import compile_topology  # noqa: E402
from engine.runtime.runner import RunOptions, run_dataflow  # noqa: E402
from engine.binding import validate_text  # noqa: E402

TOPOLOGY = """\
version: 1
name: kafka-bench
sources:
  technical: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false}}}}
steps:
  - id: typed
    cast: {{fields: {{after.order_id: int, after.weight_kg: "decimal(10,3)", after.planned_at: timestamp}}}}
  - id: changes
    filter: "op != 'd' and after.weight_kg > 0"
  - id: domain
    map:
      key: "str(after.order_id)"
      fields: {{order_id: after.order_id, status: upper(after.status), weight_kg: after.weight_kg,
               planned_at: after.planned_at, tx: source.txId, lsn: source.lsn}}
sinks:
  domain: {{from: domain, kafka: {{brokers: "{bootstrap}", topic: {target}}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""


def technical_event(i: int) -> bytes:
    return json.dumps({
        "before": None,
        "after": {"order_id": str(i), "status": ["new", "planned", "picked_up"][i % 3],
                  "weight_kg": f"{(i % 2500) + 0.125:.3f}", "customer": "ACME",
                  "planned_at": f"2026-11-02T06:{i // 60 % 60:02d}:{i % 60:02d}Z"},
        "source": {"version": "2.7.3.Final", "connector": "postgresql", "name": "tms", "db": "tms",
                   "schema": "public", "table": "transport_order", "txId": 1000 + i // 5, "lsn": 24023128 + i * 64,
                   "ts_ms": 1793600000000 + i},
        "op": "c" if i % 10 else "u", "ts_ms": 1793600000123 + i,
    }).encode()


def create_topics(bootstrap: str, partitions: int, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(timeout=30)


def produce(bootstrap: str, topic: str, count: int) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 1000000})
    started = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, technical_event(i), key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0
    return time.perf_counter() - started


def raw_copy(bootstrap: str, source: str, target: str, count: int) -> float:
    """The ceiling: consume every message and produce its value, nothing in between."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "enable.idempotence": True})
    consumer.subscribe([source])
    seen, started = 0, time.perf_counter()
    while seen < count:
        for message in consumer.consume(1000, 1.0):
            if message.error():
                continue
            while True:
                try:
                    producer.produce(target, message.value(), key=message.key())
                    break
                except BufferError:
                    producer.poll(0.05)
            seen += 1
        producer.poll(0)
    assert producer.flush(120) == 0
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def topology_copy(bootstrap: str, source: str, target: str, tmp: str, workers: int) -> float:
    text = TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target, dead=os.path.join(tmp, "dead.jsonl"))
    result = validate_text("kafka-bench.yaml", text, env={})
    if not result.ok:
        raise SystemExit("\n".join(d.message for d in result.diagnostics))
    flow = compile_topology(result.topology)
    started = time.perf_counter()
    run_dataflow(flow, RunOptions(workers=workers))
    return time.perf_counter() - started


def broker(args):
    given = args.bootstrap or os.environ.get("VELOCITY_KAFKA_BOOTSTRAP")
    if given:
        return given, None
    state = tempfile.mkdtemp(prefix="kafka-bench-")
    started = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kafka"), "start", "--port", "0",
                              "--state-dir", state], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        raise SystemExit(f"cannot start Kafka: {started.stderr}")
    return started.stdout.strip().splitlines()[-1], state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--bootstrap", help="an existing broker (default: start one with scripts/kafka)")
    parser.add_argument("--workers", type=int, default=1, help="Bytewax workers of the topology")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of the ceiling and the topology")
    args = parser.parse_args()
    bootstrap, state = broker(args)
    try:
        run = uuid.uuid4().hex[:8]
        source = f"bench-tech-{run}"
        create_topics(bootstrap, args.partitions, source)
        print(f"producing {args.events:,} events into {source} ({args.partitions} partitions) ...", flush=True)
        produced = produce(bootstrap, source, args.events)
        print(f"produce only: {args.events / produced:,.0f} events/s", flush=True)
        raws, flows = [], []
        for round_no in range(args.rounds):  # interleaved: raw ceiling, topology, raw, topology, ...
            raw_target, flow_target = f"bench-raw-{run}-{round_no}", f"bench-domain-{run}-{round_no}"
            create_topics(bootstrap, args.partitions, raw_target, flow_target)
            raws.append(raw_copy(bootstrap, source, raw_target, args.events))
            with tempfile.TemporaryDirectory() as tmp:
                flows.append(topology_copy(bootstrap, source, flow_target, tmp, args.workers))
            print(f"round {round_no + 1}: raw consume+produce {args.events / raws[-1]:>9,.0f} events/s   "
                  f"topology, {args.workers} worker(s) {args.events / flows[-1]:>9,.0f} events/s", flush=True)
        ratios = [raw / flow for raw, flow in zip(raws, flows)]
        print(f"medians: raw {args.events / statistics.median(raws):,.0f} events/s, "
              f"topology {args.events / statistics.median(flows):,.0f} events/s")
        print(f"ratio topology / raw ceiling (events/s, per round): {statistics.median(ratios):.3f} "
              f"[{min(ratios):.3f}..{max(ratios):.3f}]")
    finally:
        if state:
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kafka"), "stop", "--state-dir", state],
                           capture_output=True, timeout=60)
            shutil.rmtree(state, ignore_errors=True)  # the broker's log: gigabytes after a few runs


if __name__ == "__main__":
    main()
