"""CPU of a Kafka producer while its broker stalls: idempotent (the Kafka sink's) vs not.

    python bench/producer_stall.py [--rounds 5] [--rate 20000] [--seconds 4] [--pause 2] [--linger MS]

On a broker of its own, in interleaved rounds, a child process produces to a 4-partition
topic at ``--rate`` messages per second for ``--seconds`` (200-byte values, acks=all, ``--linger``,
by default the Kafka sink's 100 ms), then flushes; one second in, the bench stops the broker (``SIGSTOP``) for
``--pause`` seconds, as a broker that answers nobody for a while (a long GC pause, a disk that
stalls, a busy box). Each round runs:

* ``plain``: ``enable.idempotence: false`` (the baseline);
* ``idempotent``: ``enable.idempotence: true``, as engine/connectors/kafka_sink.py configures it.

A run of each without the pause comes first, unmeasured: on a fresh broker the first idempotent
producer waits a while for its producer id, and sends nothing (so spins not) until it has it.
Measured per run: the child's CPU seconds (``RUSAGE_CHILDREN``; librdkafka's threads are
most of it) and whether every message was delivered. librdkafka 2.16.0's idempotent producer
busy-loops while all its partitions wait for an answer (docs/performance.md, *Scale-out*): this
prints how much that costs, so a new librdkafka can be checked against it. Prints per round,
then ``ratio idempotent/plain CPU: median [min..max]`` of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import threading
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.domain_latency import private_broker  # noqa: E402
from bench.kafka_throughput import create_topics, spread  # noqa: E402
from engine.connectors.kafka_defaults import PRODUCER  # noqa: E402

CHILD = """
import sys, time
from confluent_kafka import Producer
bootstrap, topic, idempotent, rate, seconds = sys.argv[1], sys.argv[2], sys.argv[3] == "1", float(sys.argv[4]), \\
    float(sys.argv[5])
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": idempotent,
                     "linger.ms": int(sys.argv[6]), "log_level": 0})
failed = []
value = b"x" * 200
started, sent = time.monotonic(), 0
while time.monotonic() - started < seconds:
    due = int((time.monotonic() - started) * rate)
    while sent < due:
        try:
            producer.produce(topic, value, str(sent).encode(), on_delivery=lambda e, m: e and failed.append(e))
            sent += 1
        except BufferError:
            producer.poll(0.01)
    producer.poll(0.001)
left = producer.flush(60)
print(sent, left, len(failed))
"""
KINDS = {"plain": "0", "idempotent": "1"}


def one(bootstrap: str, broker_pid: int, kind: str, args, pause: float) -> dict:
    topic = f"stall-{kind}-{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, 4, topic)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen([sys.executable, "-c", CHILD, bootstrap, topic, KINDS[kind], str(args.rate),
                              str(args.seconds), str(args.linger)], stdout=subprocess.PIPE, text=True)
    stop, go = threading.Timer(1.0, os.kill, (broker_pid, signal.SIGSTOP if pause else signal.SIGCONT)), \
        threading.Timer(1.0 + pause, os.kill, (broker_pid, signal.SIGCONT))
    stop.start()
    go.start()
    try:
        out, _ = child.communicate(timeout=120)
    finally:
        go.join()  # the broker runs again whatever happened
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sent, left, failed = map(int, out.split())
    if left or failed:
        raise SystemExit(f"{kind}: {left} message(s) not delivered, {failed} failed of {sent}")
    return {"cpu": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, "sent": sent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    parser.add_argument("--rate", type=float, default=20000, help="messages per second")
    parser.add_argument("--seconds", type=float, default=4, help="how long each run produces")
    parser.add_argument("--pause", type=float, default=2, help="seconds the broker is stopped, from 1 s in")
    parser.add_argument("--linger", type=int, default=PRODUCER["linger.ms"], help="the producers' linger.ms "
                        "(default: the Kafka sink's)")
    args = parser.parse_args()
    with private_broker("producer-stall-") as (state, bootstrap):
        with open(os.path.join(state, "kafka", "kafka.pid")) as handle:
            broker_pid = int(handle.read().split()[0])
        print(f"{args.rate:.0f} messages/s for {args.seconds:g} s, the broker stopped {args.pause:g} s from 1 s in; "
              "CPU seconds of the producing process", flush=True)
        for kind in KINDS:  # unmeasured: the broker's first idempotent producer waits long for its id
            one(bootstrap, broker_pid, kind, args, 0)
        runs: dict = {kind: [] for kind in KINDS}
        for round_no in range(1, args.rounds + 1):
            for kind in KINDS:
                runs[kind].append(one(bootstrap, broker_pid, kind, args, args.pause))
            print(f"round {round_no}: " + "   ".join(f"{kind} {runs[kind][-1]['cpu']:.2f} s ({runs[kind][-1]['sent']} "
                                                    "delivered)" for kind in KINDS), flush=True)
        ratios = [i["cpu"] / p["cpu"] for p, i in zip(runs["plain"], runs["idempotent"], strict=True)]
        print(f"ratio idempotent/plain CPU: {spread(ratios)}")


if __name__ == "__main__":
    main()
