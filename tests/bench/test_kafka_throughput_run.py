"""bench/kafka_throughput.py end to end on the test broker, on a few thousand events: raw,
raw-json and the topology each copy every event into a topic of their own in every round (Quix
Streams is left out where it is not importable, as in the test environment), and the ratios come
last, as scripts read them."""

import subprocess
import sys
from pathlib import Path

from confluent_kafka import Consumer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.kafka_throughput import end_offsets  # noqa: E402

EVENTS, ROUNDS = 3000, 2


def _topics(bootstrap: str) -> set:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-run-test"})
    try:
        return set(consumer.list_topics(timeout=30).topics)
    finally:
        consumer.close()


def test_every_flow_copies_every_event_and_the_ratios_come_last(kafka_bootstrap, tmp_path):
    before = _topics(kafka_bootstrap)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "kafka_throughput.py"), "--events", str(EVENTS),
                           "--rounds", str(ROUNDS), "--warm-up", "0", "--bootstrap", kafka_bootstrap],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    ratios = [line for line in lines if line.startswith("ratio ")]
    assert ratios and lines[-len(ratios):] == ratios, done.stdout[-2000:]
    assert {line.split(":")[0] for line in ratios} == {
        "ratio topology/raw", "ratio topology/raw-json", "ratio raw-json/raw", "ratio cpu topology/raw",
        "ratio cpu topology/raw-json"}
    made = sorted(t for t in _topics(kafka_bootstrap) - before if t.startswith("bench-") and "-tech-" not in t)
    assert len(made) == 3 * ROUNDS, made  # raw, raw-json and the topology, each round
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "bench-run-test"})
    try:
        for topic in made:  # the topology's filter keeps every event of this workload (no deletes)
            assert sum(end_offsets(consumer, topic).values()) == EVENTS, topic
    finally:
        consumer.close()
