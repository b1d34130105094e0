"""``deploy -p 2`` of a flow without keyed state on a real broker: two independent shares of
the partitions (engine/shares.py), each with its own recovery store and its own Kafka
transactions. Killed at random moments while the input arrives, it loses and duplicates nothing
for ``read_committed`` consumers; its stores refuse another number of shares; by hand, two
``run --share I/2`` read every partition once between them."""

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

from confluent_kafka import Producer

from tests.integration.kafka_io import consume_all, produce
from tests.integration.test_kafka_exactly_once import _children, _produce_live, stop_when_out

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOPOLOGY = """\
version: 1
name: shares
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, group_id: shares, tail: {tail}, batch_size: 200,
                    metadata: true}}}}
steps:
  - id: typed
    cast: {{fields: {{id: int, kg: int}}}}
  - id: tagged
    map: {{keep: all, drop: [_meta], fields: {{partition: _meta.partition}}}}
sinks:
  out: {{from: tagged, kafka: {{brokers: "{bootstrap}", topic: {target}, key: "str(id)", delivery: {delivery}}}}}
dead_letter: {{kafka: {{brokers: "{bootstrap}", topic: {dead}}}}}
"""


def _flow(tmp_path, bootstrap, kafka_topic, tail: bool, delivery: str = "exactly-once"):
    source, target, dead = kafka_topic("shares-in", 4), kafka_topic("shares-out", 2), kafka_topic("shares-dead")
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target, dead=dead,
                                    tail=str(tail).lower(), delivery=delivery))
    return path, source, target, dead


def _deploy(path, tmp_path, *more: str, out=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", "deploy", "-q", "-s", "0.5", "-r", str(tmp_path / "rec"),
                             *more, str(path)], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.PIPE, text=True)


def _kill_one(run: subprocess.Popen, rng: random.Random) -> None:
    """SIGKILL to one share (deploy stops the other) or to deploy and both shares at once."""
    deadline = time.monotonic() + 30
    while len(children := _children(run.pid)) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children) == 2, "deploy -p 2 did not start two processes within 30 s"
    for pid in rng.sample(children, 1) if rng.random() < 0.7 else [*children, run.pid]:
        os.kill(pid, signal.SIGKILL)


def test_killed_shares_lose_nothing_and_duplicate_nothing_for_read_committed(kafka_bootstrap, kafka_topic,
                                                                              tmp_path):
    total = 12000
    path, source, target, dead = _flow(tmp_path, kafka_bootstrap, kafka_topic, tail=True)
    produce(kafka_bootstrap, source, [], raw=[b"{broken", b"[1]"])
    stop = threading.Event()
    producer = threading.Thread(target=_produce_live, args=(kafka_bootstrap, source, total, stop), daemon=True)
    producer.start()
    rng = random.Random(20261203)
    try:
        for _ in range(6):
            run = _deploy(path, tmp_path, "-p", "2")
            time.sleep(rng.uniform(2.0, 4.5))  # start-up ~2 s, epochs of 0.5 s: kills land mid-epoch
            _kill_one(run, rng)
            _, err = run.communicate(timeout=90)
            assert "Traceback" not in err and "panicked" not in err, err[-3000:]
        producer.join(120)
        got, printed = stop_when_out(_deploy(path, tmp_path, "-p", "2", out=subprocess.PIPE), kafka_bootstrap,
                                     target, total)
    finally:
        stop.set()
    assert "starting 2 independent processes, each a share of the Kafka partitions" in printed
    ids = Counter(value["id"] for _, value, _ in got)
    assert sorted(ids) == list(range(total)) and max(ids.values()) == 1
    assert {value["partition"] for _, value, _ in got} == {0, 1, 2, 3}
    assert sorted(os.listdir(tmp_path / "rec")) == ["share-0-of-2", "share-1-of-2"]
    letters = consume_all(kafka_bootstrap, dead, 2, timeout=10)
    assert {v["event"] for _, v, _ in letters} == {"{broken", "[1]"}  # at least once: a kill may repeat one

    other = subprocess.run([sys.executable, "-m", "cli", "deploy", "-q", "-p", "3", "-r", str(tmp_path / "rec"),
                            str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert other.returncode == 3
    assert "holds the stores of 2 shares, not 3" in other.stderr and "deploy with -p 2" in other.stderr


def test_two_shares_run_by_hand_read_every_partition_once(kafka_bootstrap, kafka_topic, tmp_path):
    path, source, target, dead = _flow(tmp_path, kafka_bootstrap, kafka_topic, tail=False, delivery="at-least-once")
    text = path.read_text()  # the default kind of dead letter: a file, written per share
    path.write_text(text.replace(f'dead_letter: {{kafka: {{brokers: "{kafka_bootstrap}", topic: {dead}}}}}',
                                 f'dead_letter: {{file: {{path: "{tmp_path}/dead.jsonl"}}}}'))
    assert "dead.jsonl" in path.read_text()
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(4000):
        producer.produce(source, json.dumps({"id": i, "kg": 1}).encode(), partition=i % 4)
    for partition in (0, 1):  # partitions 0 and 1 belong to different shares
        producer.produce(source, b"{broken", partition=partition)
    assert producer.flush(30) == 0
    by_hand = [["deploy", "--share", "0/2", "-r", str(tmp_path / "machine-0")],  # its store: ROOT/share-0-of-2
               ["run", "--share", "1/2", "-r", str(tmp_path / "machine-1")]]  # its store: the directory given
    runs = [subprocess.Popen([sys.executable, "-m", "cli", *command, "-q", str(path)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for command in by_hand]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-3000:]
    got = consume_all(kafka_bootstrap, target, 4000, timeout=20)
    assert Counter(v["id"] for _, v, _ in got) == Counter(range(4000))
    assert all(v["partition"] == v["id"] % 4 for _, v, _ in got)
    letters = {i: (tmp_path / f"dead.share-{i}-of-2.jsonl").read_text().splitlines() for i in range(2)}
    assert [len(lines) for lines in letters.values()] == [1, 1] and not (tmp_path / "dead.jsonl").exists()
    assert {json.loads(lines[0])["event"] for lines in letters.values()} == {"{broken"}
    assert (tmp_path / "machine-0" / "share-0-of-2" / ".velocity-flow-share").read_text() == "0/2\n"
    wrong = subprocess.run([sys.executable, "-m", "cli", "run", "-q", "--share", "0/2", "-r",
                            str(tmp_path / "machine-1"), str(path)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert wrong.returncode == 3 and "holds share 1/2, not 0/2" in wrong.stderr


def test_a_deployment_from_before_shares_goes_on_as_one_cluster(kafka_bootstrap, kafka_topic, tmp_path):
    """A store of one process (or of a cluster, before shares) is not left behind: deploy -p 2
    runs on it as one cluster, resuming its offsets, instead of refusing it (a supervisor would
    restart that refusal forever)."""
    path, source, target, _ = _flow(tmp_path, kafka_bootstrap, kafka_topic, tail=False)
    deploy = [sys.executable, "-m", "cli", "deploy", "-q", "-s", "0.5", "-r", str(tmp_path / "rec"), str(path)]
    produce(kafka_bootstrap, source, [{"id": i, "kg": 1} for i in range(300)])
    first = subprocess.run(deploy, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-3000:]
    produce(kafka_bootstrap, source, [{"id": i, "kg": 1} for i in range(300, 700)])
    second = subprocess.run([*deploy[:-1], "-p", "2", str(path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "holds the store of one process or a cluster: running as one cluster" in second.stdout
    assert "processes of one cluster" in second.stdout
    got = consume_all(kafka_bootstrap, target, 700, timeout=20, isolation="read_committed")
    assert Counter(v["id"] for _, v, _ in got) == Counter(range(700))  # resumed: nothing read twice
