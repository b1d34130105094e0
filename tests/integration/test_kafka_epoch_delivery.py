"""The at-least-once Kafka sink confirms its deliveries once per epoch, at the epoch's end, and
that must come before anything counts the epoch as done: the recovery store (a resumed run
starts after the last complete epoch) and the Kafka source's group offsets (``start:
committed``). Here the sink's topic does not exist yet (the broker creates none by itself): the
producer holds every message, waiting for the topic (up to librdkafka's
``topic.metadata.propagation.max.ms``, 30 s), and nothing is delivered. The flow is killed
(SIGKILL) while its messages wait, the topic is created and the flow started again: every event
must arrive. A sink that let the epoch end before its messages were delivered loses them here
(checked by making its snapshot confirm nothing: every case below then fails)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import List

import pytest
from confluent_kafka.admin import NewTopic

from tests.integration.kafka_io import consume_all, produce

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENTS = 600

TOPOLOGY = """\
version: 1
name: epoch-delivery
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: true, batch_size: 50{group}}}}}
sinks:
  out: {{from: orders, kafka: {{brokers: "{bootstrap}", topic: {target}, timeout: 120s}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def _start(path, args, processes: int) -> List[subprocess.Popen]:
    """The flow, as one process or as a cluster of ``processes`` (what ``deploy -p`` starts)."""
    ports = [_free_port() for _ in range(processes)]
    cluster = [["-i", str(i), "-a", ";".join(f"127.0.0.1:{port}" for port in ports)] for i in range(processes)]
    return [subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", str(path), "-s", "0.3", *args,
                              *(cluster[i] if processes > 1 else [])], cwd=ROOT, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(processes)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _create(admin, topic: str) -> None:
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)


@pytest.mark.parametrize("resume, workers, processes", [("store", 1, 1), ("store", 2, 1), ("store", 1, 2),
                                                        ("group", 1, 1)])
def test_a_flow_killed_while_its_messages_wait_for_the_broker_loses_none(kafka_bootstrap, kafka_admin, kafka_topic,
                                                                         tmp_path, resume, workers, processes):
    source, target = kafka_topic("in", partitions=4), f"out-{uuid.uuid4().hex[:12]}"
    produce(kafka_bootstrap, source, [{"i": i} for i in range(EVENTS)], key=lambda e: e["i"])
    group = f", group_id: g-{target}, start: committed" if resume == "group" else ""
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=kafka_bootstrap, source=source, target=target, group=group,
                                    dir=tmp_path))
    args = ["-r", str(tmp_path / "rec")] if resume == "store" else []
    args += ["-w", str(workers)]
    flows = _start(path, args, processes)
    try:
        # every event read and handed to the producer, none deliverable: many epoch intervals (0.3 s) pass
        time.sleep(6)
        for flow in flows:
            assert flow.poll() is None, flow.communicate()[1][-3000:]
        assert consume_all(kafka_bootstrap, target, 1, timeout=2) == []  # nothing delivered: the bad moment
        for flow in flows:
            flow.send_signal(signal.SIGKILL)
            flow.wait(30)
        _create(kafka_admin, target)
        flows = _start(path, args, processes)
        written = consume_all(kafka_bootstrap, target, EVENTS, timeout=90)
        for flow in flows:
            flow.send_signal(signal.SIGTERM)
        for flow in flows:
            _, err = flow.communicate(timeout=60)
            assert flow.returncode == 0, err[-3000:]
    finally:
        for flow in flows:
            if flow.poll() is None:
                flow.kill()
        kafka_admin.delete_topics([target])
    assert {value["i"] for _, value, _ in written} == set(range(EVENTS))  # at least once: none lost
