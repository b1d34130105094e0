"""What exactly-once costs on the Kafka -> Kafka flow: throughput and latency of ``delivery:
exactly-once`` vs ``at-least-once``, measured in one run on one broker.

    python bench/kafka_delivery.py [--events 300000] [--rounds 5] [--interval 5] [--bootstrap HOST:PORT]

Throughput: the topology of bench/kafka_throughput.py drains the same backlog, rounds
interleaved (at-least-once, exactly-once, at-least-once, ...), both with a recovery store and the
same snapshot interval (deploy's default, 5 s), each timed until the run returns (for
exactly-once: its last transaction committed). Latency: the flow tails a topic while events
arrive at 200/s; a ``read_committed`` consumer notes when each becomes visible (p50, p99).
Prints the ratio of throughputs last, as ``ratio NAME: median [min..max]``.
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
import threading
import time
import uuid
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kafka_throughput import ROOT, TOPOLOGY, broker, create_topics, produce  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from engine.binding import validate_text  # noqa: E402
from engine.compiler import compile_topology  # noqa: E402
from engine.runtime.runner import RunOptions, run_dataflow  # noqa: E402
from engine.stopping import request_stop  # noqa: E402

MODES = ("at-least-once", "exactly-once")


def _flow(bootstrap: str, source: str, target: str, tmp: str, delivery: str, tail: bool):
    text = TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target, dead=os.path.join(tmp, "dead.jsonl"))
    text = text.replace(f"topic: {target}}}", f"topic: {target}, delivery: {delivery}}}")
    if tail:
        text = text.replace("tail: false", "tail: true")
    result = validate_text("kafka-delivery.yaml", text, env={})
    if not result.ok:
        raise SystemExit("\n".join(d.message for d in result.diagnostics))
    return compile_topology(result.topology)


def drain(bootstrap: str, source: str, target: str, delivery: str, interval: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        flow = _flow(bootstrap, source, target, tmp, delivery, tail=False)
        started = time.perf_counter()
        run_dataflow(flow, RunOptions(recovery_directory=os.path.join(tmp, "rec"),
                                      epoch_interval=timedelta(seconds=interval)))
        return time.perf_counter() - started


def latency(bootstrap: str, partitions: int, delivery: str, interval: float, seconds: float = 15.0) -> list:
    """Seconds from produce to visible for read_committed, events at 200/s while the flow tails."""
    run = uuid.uuid4().hex[:8]
    source, target = f"lat-in-{run}", f"lat-out-{run}"
    create_topics(bootstrap, partitions, source, target)
    sent, seen = {}, {}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{run}", "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.assign([TopicPartition(target, p, 0) for p in range(partitions)])
    with tempfile.TemporaryDirectory() as tmp:
        flow = _flow(bootstrap, source, target, tmp, delivery, tail=True)
        runner = threading.Thread(target=run_dataflow, daemon=True, args=(flow, RunOptions(
            recovery_directory=os.path.join(tmp, "rec"), epoch_interval=timedelta(seconds=interval))))
        runner.start()
        time.sleep(3.0)  # the flow is up
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "log_level": 0})
        from kafka_throughput import technical_event

        i, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            producer.produce(source, technical_event(i), key=str(i).encode())
            producer.poll(0)
            sent[i] = time.monotonic()
            i += 1
            for message in consumer.consume(100, 0.005):
                if not message.error():
                    seen.setdefault(json.loads(message.value())["order_id"], time.monotonic())
        producer.flush(10)
        wait_until = time.monotonic() + interval * 3 + 10
        while len(seen) < len(sent) * 0.9 and time.monotonic() < wait_until:
            for message in consumer.consume(1000, 0.2):
                if not message.error():
                    seen.setdefault(json.loads(message.value())["order_id"], time.monotonic())
        request_stop()
        runner.join(60)
    consumer.close()
    return sorted(seen[k] - sent[k] for k in seen if k in sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between snapshots (deploy's default)")
    parser.add_argument("--bootstrap", help="an existing broker (default: start one with scripts/kafka)")
    args = parser.parse_args()
    bootstrap, state = broker(args)
    try:
        run = uuid.uuid4().hex[:8]
        source = f"bench-tech-{run}"
        create_topics(bootstrap, args.partitions, source)
        print(f"producing {args.events:,} events into {source} ({args.partitions} partitions) ...", flush=True)
        produce(bootstrap, source, args.events)
        times = {mode: [] for mode in MODES}
        for round_no in range(args.rounds):  # interleaved: at-least-once, exactly-once, ...
            line = []
            for mode in MODES:
                target = f"bench-{mode}-{run}-{round_no}"
                create_topics(bootstrap, args.partitions, target)
                times[mode].append(drain(bootstrap, source, target, mode, args.interval))
                line.append(f"{mode} {args.events / times[mode][-1]:>9,.0f} events/s")
            print(f"round {round_no + 1}: " + "   ".join(line), flush=True)
        for mode in MODES:
            delays = latency(bootstrap, args.partitions, mode, args.interval)
            print(f"latency {mode} (snapshots every {args.interval:g} s), produce -> visible to read_committed, "
                  f"{len(delays)} events: p50 {statistics.median(delays) * 1000:,.0f} ms, "
                  f"p99 {delays[int(len(delays) * 0.99) - 1] * 1000:,.0f} ms", flush=True)
        ratios = [alo / eos for alo, eos in zip(times["at-least-once"], times["exactly-once"])]
        print(f"medians: at-least-once {args.events / statistics.median(times['at-least-once']):,.0f} events/s, "
              f"exactly-once {args.events / statistics.median(times['exactly-once']):,.0f} events/s")
        print(f"ratio exactly-once / at-least-once (events/s, per round): {statistics.median(ratios):.3f} "
              f"[{min(ratios):.3f}..{max(ratios):.3f}]")
    finally:
        if state:
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kafka"), "stop", "--state-dir", state],
                           capture_output=True, timeout=60)
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
