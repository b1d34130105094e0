"""Commit -> event latency on the real CDC path, at steady SQL rates.

    python bench/e2e_latency.py [--rates 200,2000] [--seconds 10]

Starts Kafka, PostgreSQL and Debezium (scripts/), deploys the shipped Kafka topologies for
transport orders, pickups and the Event Engine (tailing), drives the TMS workload as SQL at each
rate, then reads the topics back and prints p50/p95/p99 of:
  * commit -> technical topic (Debezium's own latency: its message time - source.ts_ms);
  * commit -> domain event   (our domain message time - the transaction's commit time);
  * commit -> business event (our business message time - commit time).
Our share of technical -> domain is the difference of the first two. Message times are Kafka
CreateTime stamps set by each producer on this one machine, so no clocks are compared across
hosts. Goal (issue 5): our added p99 for technical -> domain under 250 ms at 2000 tx/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition  # noqa: E402

from engine.simulation.sql import run_workload  # noqa: E402

FLOWS = ("transport_order_domain", "pickup_domain", "event_engine")


def script(name: str, *args: str, timeout: float = 600) -> str:
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), *args],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"{name} {args[0]} failed: {result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def read_topic(bootstrap: str, topic: str, idle: float = 3.0) -> list:
    """(message time ms, value) of every message until ``idle`` seconds bring nothing new."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or not meta.partitions:
        consumer.close()
        return []
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    out, last = [], time.monotonic()
    while time.monotonic() - last < idle:
        for message in consumer.consume(1000, 0.5):
            if message.error() or message.value() is None:
                continue
            out.append((message.timestamp()[1], json.loads(message.value())))
            last = time.monotonic()
    consumer.close()
    return out


def reset(dsn: str) -> None:
    """Empty the TMS tables between runs (Debezium skips truncates by default), so the same
    deterministic order numbers can be inserted again."""
    import psycopg

    from engine.simulation.schema import TABLES

    with psycopg.connect(dsn) as con:
        con.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")


def percentiles(values: list) -> str:
    if not values:
        return "no data"
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return f"p50 {pick(0.50):7.0f}  p95 {pick(0.95):7.0f}  p99 {pick(0.99):7.0f} ms  (n={len(values)})"


def commit_ms(occurred_at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).timestamp() * 1000


def measure(bootstrap: str, prefix: str, since_ms: float) -> dict:
    technical = [t - (v.get("payload", v)["source"]["ts_ms"]) for t, v in read_topic(bootstrap, f"{prefix}.public.transport_order")
                 if v.get("payload", v)["source"]["ts_ms"] >= since_ms]
    domain = [t - commit_ms(v["occurred_at"]) for t, v in read_topic(bootstrap, "velocity.domain.transport_order")
              if commit_ms(v["occurred_at"]) >= since_ms]
    business = [t - commit_ms(v["occurred_at"]) for t, v in read_topic(bootstrap, "velocity.business.events")
                if commit_ms(v["occurred_at"]) >= since_ms]
    return {"technical": technical, "domain": domain, "business": business}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,2000", help="SQL transactions per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10, help="length of each steady run")
    parser.add_argument("--no-recovery", dest="recovery", action="store_false",
                        help="run the flows without a recovery store (no snapshots)")
    parser.add_argument("--epoch", type=float, default=2.0,
                        help="Bytewax epoch (= snapshot) interval of the flows, seconds: stateful steps release "
                             "an epoch's items when it closes, so it bounds the added latency")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="e2e-latency-")
    prefix = "tms" + uuid.uuid4().hex[:6]
    flows = []
    try:
        bootstrap = script("kafka", "start", "--port", "0", "--state-dir", f"{state}/kafka")
        dsn = script("postgres", "start", "--port", "0", "--state-dir", f"{state}/postgres")
        script("debezium", "start", "--bootstrap", bootstrap, "--dsn", dsn, "--topic-prefix", prefix,
               "--state-dir", f"{state}/debezium")
        env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_OUT": f"{state}/out"}
        run_workload(dsn, orders=2, seed=99)  # creates every technical topic before the flows start
        reset(dsn)
        time.sleep(3)
        for flow in FLOWS:
            path = f"topologies/velocity/kafka/{flow}.yaml"
            subprocess.run([sys.executable, "-m", "cli", "deploy", "--provision-only", path], cwd=ROOT, env=env,
                           capture_output=True, timeout=120, check=True)
            command = ["deploy", "-r", f"{state}/recovery/{flow}"] if args.recovery else ["run"]
            flows.append(subprocess.Popen(
                [sys.executable, "-m", "cli", *command, "-q", "-s", str(args.epoch),
                 f"topologies/velocity/kafka/{flow}.yaml"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(8)
        print(f"{'rate (tx/s)':>12} {'achieved':>9}  path")
        for seed, rate in enumerate(float(r) for r in args.rates.split(",")):
            orders = max(5, int(rate * args.seconds / 6))  # the workload has ~6 transactions per order
            reset(dsn)
            since = time.time() * 1000
            started = time.monotonic()
            count = run_workload(dsn, orders=orders, seed=1000 + seed, rate=rate)
            achieved = count / (time.monotonic() - started)
            time.sleep(5)
            result = measure(bootstrap, prefix, since)
            ours = [d for d in result["domain"]]
            print(f"{rate:12.0f} {achieved:9.0f}  commit -> technical (Debezium): {percentiles(result['technical'])}")
            print(f"{'':22}  commit -> domain event:          {percentiles(ours)}")
            print(f"{'':22}  commit -> business event:        {percentiles(result['business'])}")
            if result["technical"] and ours:
                share = statistics.quantiles(ours, n=100)[98] - statistics.quantiles(result["technical"], n=100)[98]
                print(f"{'':22}  our added p99 (technical -> domain): {share:.0f} ms")
    finally:
        for process in flows:
            process.terminate()
        for process in flows:
            process.wait(timeout=60)
        for name in ("debezium", "postgres", "kafka"):
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), "stop", "--state-dir",
                            f"{state}/{name}"], capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
