"""The real Kafka broker of scripts/kafka: round trip through a partitioned topic, status, and
an idempotent second start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.services.kafka import SCRIPT

confluent_kafka = pytest.importorskip("confluent_kafka")

N = 1000
PARTITIONS = 4


def _script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_produce_and_consume_1000_messages_through_4_partitions(kafka_bootstrap, kafka_topic):
    from confluent_kafka import Consumer, Producer

    topic = kafka_topic("roundtrip", partitions=PARTITIONS)
    meta = confluent_kafka.admin.AdminClient({"bootstrap.servers": kafka_bootstrap}) \
        .list_topics(topic=topic, timeout=10).topics[topic]
    assert len(meta.partitions) == PARTITIONS

    sent = {f"key-{i}": f"value-{i}-{'x' * (i % 17)}" for i in range(N)}
    errors = []
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})
    for key, value in sent.items():
        producer.produce(topic, value.encode(), key.encode(),
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    received, per_partition = {}, {}
    deadline = time.monotonic() + 60
    try:
        while len(received) < N and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            key = msg.key().decode()
            assert key not in received, f"duplicate {key}"
            received[key] = msg.value().decode()
            offsets = per_partition.setdefault(msg.partition(), [])
            offsets.append(msg.offset())
    finally:
        consumer.close()

    assert received == sent
    # Keyed messages were spread over the partitions, each read in offset order.
    assert set(per_partition) == set(range(PARTITIONS))
    for offsets in per_partition.values():
        assert offsets == list(range(len(offsets)))
    assert sum(len(o) for o in per_partition.values()) == N


def test_topics_are_unique_and_deleted(kafka_bootstrap, kafka_admin, kafka_topic):
    a, b = kafka_topic(2), kafka_topic("other")
    assert a != b and a.startswith("t-") and b.startswith("other-")
    topics = kafka_admin.list_topics(timeout=10).topics
    assert len(topics[a].partitions) == 2 and len(topics[b].partitions) == 1


def _managed(kafka_state_dir):
    if kafka_state_dir is None:
        pytest.skip("VELOCITY_KAFKA_BOOTSTRAP is set: the broker is not managed by this session")
    return kafka_state_dir


def test_status_reports_running(kafka_bootstrap, kafka_state_dir):
    state = _managed(kafka_state_dir)
    status = _script("status", "--state-dir", state)
    assert status.returncode == 0, status
    assert status.stdout.startswith("running ")
    assert status.stdout.strip().splitlines()[-1] == kafka_bootstrap


def test_second_start_is_a_noop_printing_the_same_bootstrap(kafka_bootstrap, kafka_state_dir):
    state = _managed(kafka_state_dir)
    pid_file = os.path.join(state, "kafka.pid")
    with open(pid_file) as f:
        pid = f.read().strip()
    started = time.monotonic()
    again = _script("start", "--state-dir", state, "--port", "0")
    assert again.returncode == 0, again
    assert again.stdout.strip().splitlines()[-1] == kafka_bootstrap
    assert "already running" in again.stderr
    assert time.monotonic() - started < 10
    with open(pid_file) as f:
        assert f.read().strip() == pid


def test_status_of_a_stopped_broker_exits_3(tmp_path):
    status = _script("status", "--state-dir", str(tmp_path / "never-started"))
    assert status.returncode == 3
    assert status.stdout.strip() == "stopped"
    assert _script("stop", "--state-dir", str(tmp_path / "never-started")).returncode == 0


def test_cluster_ids_never_start_with_a_dash_which_kafka_storage_would_read_as_an_option():
    import base64
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("kafka_script", SCRIPT)
    spec = importlib.util.spec_from_loader("kafka_script", loader)
    script = importlib.util.module_from_spec(spec)
    loader.exec_module(script)
    ids = [script.new_cluster_id() for _ in range(3000)]  # ~47 of them started with '-' before
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
