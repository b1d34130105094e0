"""``delivery: exactly-once`` on a real broker: a Kafka -> Kafka flow with a keyed aggregate,
its input produced live, is killed with SIGKILL at random moments and restarted from its
recovery store; a ``read_committed`` consumer then sees every event once and every aggregate
update once, in order. With ``deploy -p 2`` one child is killed each time (deploy stops the
other). SIGTERM and a restart, repeatedly: not even a ``read_uncommitted`` consumer sees a
duplicate, because a clean stop commits its last transaction instead of leaving it open."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict

import pytest
from confluent_kafka import Producer

from tests.integration.kafka_io import consume_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOPOLOGY = """\
version: 1
name: exactly-once
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, group_id: exactly-once, tail: {tail}, batch_size: 200}}}}
steps:
  - id: typed
    cast: {{fields: {{id: int, kg: int}}}}
  - id: per-parity
    from: typed
    aggregate: {{key: "str(id % 2)", compute: {{n: count(), kg: sum(kg)}}, emit: updates}}
sinks:
  out: {{from: typed, kafka: {{brokers: "{bootstrap}", topic: {target}, key: "str(id)", delivery: exactly-once}}}}
  totals: {{from: per-parity, kafka: {{brokers: "{bootstrap}", topic: {totals}, key: "_key", delivery: exactly-once}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def _produce_live(bootstrap: str, topic: str, total: int, stop: threading.Event) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(total):
        producer.produce(topic, json.dumps({"id": i, "kg": i % 7}).encode())
        if i % 100 == 0:
            producer.poll(0)
            time.sleep(0.03)  # ~3k messages/s: the runs are killed while the input arrives
        if stop.is_set():
            break
    producer.flush(30)


def _flow(tmp_path, bootstrap, kafka_topic, tail: bool):
    source, target, totals = kafka_topic("eos-in", 2), kafka_topic("eos-out"), kafka_topic("eos-totals")
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target, totals=totals, dir=tmp_path,
                                    tail=str(tail).lower()))
    return path, source, target, totals


def _deploy(path, tmp_path, processes: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", "deploy", "-q", "-p", str(processes), "-s", "0.5",
                             "-r", str(tmp_path / "rec"), str(path)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> list:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def _check_output(bootstrap, target, totals, total, isolation):
    got = consume_all(bootstrap, target, total, timeout=20, isolation=isolation)
    ids = Counter(value["id"] for _, value, _ in got)
    assert sorted(ids) == list(range(total)), f"missing: {total - len(ids)}"
    assert [i for i, n in ids.items() if n > 1] == [], "duplicates"
    updates = defaultdict(list)
    for key, value, _ in consume_all(bootstrap, totals, 2, timeout=10, isolation=isolation):
        updates[key].append(value["n"])
    for key, counts in updates.items():  # every update once: each count is larger than the one before
        assert counts == sorted(set(counts)), f"key {key}: an update repeated or out of order: {counts}"
    assert updates["0"][-1] == updates["1"][-1] == total // 2


def _finish(path, tmp_path, bootstrap, target, total) -> None:
    """One more deployment, until everything is out; then a clean stop."""
    stop_when_out(_deploy(path, tmp_path, 1), bootstrap, target, total)


def stop_when_out(final: subprocess.Popen, bootstrap, target, total) -> tuple:
    """Once ``target`` holds ``total`` committed messages (or after 120 s), a clean stop of
    ``final``, which must exit 0; (what read_committed saw, what it printed)."""
    deadline = time.monotonic() + 120
    got: list = []
    while time.monotonic() < deadline and len(got) < total:
        time.sleep(2)
        got = consume_all(bootstrap, target, total, timeout=5, isolation="read_committed")
    final.send_signal(signal.SIGTERM)
    printed, err = final.communicate(timeout=90)
    assert final.returncode == 0, err[-3000:]
    return got, printed


def _live_runs(kafka_bootstrap, kafka_topic, tmp_path, total: int, runs: int, processes: int, stop_run, seed: int):
    """``runs`` deployments while the input is produced live, each stopped by ``stop_run(run, rng)``
    after 2-4.5 s; then one more until everything is out. Returns (target, totals)."""
    path, source, target, totals = _flow(tmp_path, kafka_bootstrap, kafka_topic, tail=True)
    stop = threading.Event()
    producer = threading.Thread(target=_produce_live, args=(kafka_bootstrap, source, total, stop), daemon=True)
    producer.start()
    rng = random.Random(seed)
    try:
        for _ in range(runs):
            run = _deploy(path, tmp_path, processes)
            time.sleep(rng.uniform(2.0, 4.5))  # startup ~2 s; epochs of 0.5 s: stops land mid-epoch and mid-commit
            stop_run(run, rng)
            _, err = run.communicate(timeout=90)
            assert "Traceback" not in err and "panicked" not in err, err[-3000:]
        producer.join(120)
        _finish(path, tmp_path, kafka_bootstrap, target, total)
    finally:
        stop.set()
    return target, totals


def _kill(run, rng) -> None:
    run.kill()


def _kill_a_child(run, rng) -> None:
    """One process of ``deploy -p 2`` dies; deploy stops the other and exits 3."""
    deadline = time.monotonic() + 30  # on a loaded machine deploy may not have started them yet
    while not (children := _children(run.pid)) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children, "deploy -p 2 started no process within 30 s"
    os.kill(rng.choice(children), signal.SIGKILL)


def _terminate(run, rng) -> None:
    run.send_signal(signal.SIGTERM)
    run.wait(90)
    assert run.returncode == 0


@pytest.mark.parametrize("processes", [1, 2])
def test_twenty_kills_lose_nothing_and_duplicate_nothing_for_read_committed(kafka_bootstrap, kafka_topic, tmp_path,
                                                                             processes):
    target, totals = _live_runs(kafka_bootstrap, kafka_topic, tmp_path, 30000, 20, processes,
                                _kill if processes == 1 else _kill_a_child, 20261201 + processes)
    _check_output(kafka_bootstrap, target, totals, 30000, "read_committed")


def test_sigterm_and_restart_duplicate_nothing_even_for_read_uncommitted(kafka_bootstrap, kafka_topic, tmp_path):
    target, totals = _live_runs(kafka_bootstrap, kafka_topic, tmp_path, 15000, 10, 1, _terminate, 7)
    _check_output(kafka_bootstrap, target, totals, 15000, "read_uncommitted")


def test_a_bounded_run_commits_its_last_epoch_before_it_exits(kafka_bootstrap, kafka_topic, tmp_path):
    path, source, target, totals = _flow(tmp_path, kafka_bootstrap, kafka_topic, tail=False)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(2000):
        producer.produce(source, json.dumps({"id": i, "kg": i % 7}).encode())
    assert producer.flush(30) == 0
    result = subprocess.run([sys.executable, "-m", "cli", "run", "-q", "-r", str(tmp_path / "rec"), str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    # no waiting: everything is committed when the run returns
    got = consume_all(kafka_bootstrap, target, 2000, timeout=3, isolation="read_committed")
    assert len(got) == 2000
    _check_output(kafka_bootstrap, target, totals, 2000, "read_uncommitted")


def test_exactly_once_without_a_recovery_store_is_refused_in_one_line(kafka_bootstrap, kafka_topic, tmp_path):
    path, *_ = _flow(tmp_path, kafka_bootstrap, kafka_topic, tail=False)
    result = subprocess.run([sys.executable, "-m", "cli", "run", "-q", str(path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "exactly-once needs a recovery store" in result.stderr and "sink 'out'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_new_recovery_store_does_not_trust_the_marker_of_an_earlier_one(kafka_bootstrap, kafka_topic, tmp_path):
    """The marker carries the store's run id: after the store is deleted, the new run's entries
    (numbered from 1 again) are committed, not mistaken for the old run's."""
    path, source, target, _ = _flow(tmp_path, kafka_bootstrap, kafka_topic, tail=False)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(100):
        producer.produce(source, json.dumps({"id": i, "kg": 1}).encode())
    assert producer.flush(30) == 0
    for _ in range(2):  # the second run starts without a store: it reads the topic again from the start
        shutil.rmtree(tmp_path / "rec", ignore_errors=True)
        result = subprocess.run([sys.executable, "-m", "cli", "run", "-q", "-r", str(tmp_path / "rec"), str(path)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
    got = consume_all(kafka_bootstrap, target, 200, timeout=10, isolation="read_committed")
    assert Counter(value["id"] for _, value, _ in got) == Counter({i: 2 for i in range(100)})
