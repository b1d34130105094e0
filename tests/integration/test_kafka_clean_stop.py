"""SIGTERM during a live Kafka -> Kafka run, then a restart, several times: the stop is clean
(exit 0, no panic), and a plain (read_uncommitted) consumer of the output sees every event
exactly once; a keyed aggregate's totals cross every stop intact. With ``deploy -p 2`` the
parent forwards the stop to both processes and exits 0."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Producer

from tests.integration.kafka_io import consume_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOPOLOGY = """\
version: 1
name: clean-stop
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, group_id: clean-stop, tail: true, batch_size: 200}}}}
steps:
  - id: typed
    cast: {{fields: {{id: int, kg: int}}}}
  - id: per-parity
    from: typed
    aggregate: {{key: "str(id % 2)", compute: {{n: count(), kg: sum(kg)}}, emit: updates}}
sinks:
  out: {{from: typed, kafka: {{brokers: "{bootstrap}", topic: {target}, key: "str(id)"}}}}
  totals: {{from: per-parity, kafka: {{brokers: "{bootstrap}", topic: {totals}, key: "_key"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""
TOTAL = 12000


def _produce_live(bootstrap: str, topic: str, stop: threading.Event) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(TOTAL):
        producer.produce(topic, json.dumps({"id": i, "kg": i % 7}).encode())
        if i % 200 == 0:
            producer.poll(0)
            time.sleep(0.02)  # ~10k messages/s: the flow is always catching up with a live input
        if stop.is_set():
            break
    producer.flush(30)


def _deploy(path, tmp_path, processes: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", "deploy", "-q", "-p", str(processes), "-s", "0.5",
                             "-r", str(tmp_path / "rec"), str(path)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_and_restart_during_a_live_run_emit_every_event_once(kafka_bootstrap, kafka_topic, tmp_path,
                                                                       processes):
    source, target, totals = kafka_topic("stop-in", 2), kafka_topic("stop-out"), kafka_topic("stop-totals")
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=kafka_bootstrap, source=source, target=target, totals=totals,
                                    dir=tmp_path))
    stop_producing = threading.Event()
    producer = threading.Thread(target=_produce_live, args=(kafka_bootstrap, source, stop_producing), daemon=True)
    producer.start()
    rng = random.Random(7)
    try:
        for _ in range(5):
            run = _deploy(path, tmp_path, processes)
            time.sleep(rng.uniform(2.5, 5.0))  # startup is ~2 s: each run does some work
            run.send_signal(signal.SIGTERM)
            _, err = run.communicate(timeout=90)
            assert run.returncode == 0, err[-3000:]
            assert "panicked" not in err and "Traceback" not in err, err[-3000:]
        producer.join(120)
        final = _deploy(path, tmp_path, processes)
        got = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(got) < TOTAL:
            time.sleep(2)
            got = consume_all(kafka_bootstrap, target, TOTAL, timeout=5)
        final.send_signal(signal.SIGTERM)
        _, err = final.communicate(timeout=90)
        assert final.returncode == 0, err[-3000:]
    finally:
        stop_producing.set()
    ids = Counter(value["id"] for _, value, _ in got)
    assert sorted(ids) == list(range(TOTAL)), f"missing: {TOTAL - len(ids)}"
    assert [i for i, n in ids.items() if n > 1] == [], "duplicates after clean stops"
    last = {}
    for key, value, _ in consume_all(kafka_bootstrap, totals, 2, timeout=10):
        last[key] = value
    assert last["0"]["n"] == TOTAL // 2 and last["1"]["n"] == TOTAL // 2
    assert last["0"]["kg"] + last["1"]["kg"] == sum(i % 7 for i in range(TOTAL))
