"""Producing to and reading back from real Kafka topics in tests."""

from __future__ import annotations

import json
import time
import uuid
from typing import List, Optional

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def produce(bootstrap: str, topic: str, events: List[Optional[dict]], key=None, raw: Optional[List[bytes]] = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for event in events:
        value = json.dumps(event).encode()
        producer.produce(topic, value, key=None if key is None else str(key(event)).encode())
    for value in raw or []:
        producer.produce(topic, value)
    assert producer.flush(30) == 0


def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0, timeout: float = 30.0) -> int:
    """The offset ``group`` committed on ``topic``'s ``partition`` (negative: none), asked as the
    engine asks it (``kafka_health.committed``: again while a new group's coordinator is not ready)."""
    from engine.connectors.kafka_health import committed

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return committed(consumer, [TopicPartition(topic, partition)], timeout)[0].offset
    finally:
        consumer.close()


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0,
                isolation: str = "read_uncommitted") -> list:
    """Every message of ``topic`` as (key, value dict or None for a tombstone, headers), waiting for
    ``expected`` of them. ``isolation``: read_uncommitted (what every message written looks like,
    aborted transactions included) or read_committed (what transactional consumers see)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": isolation})
    deadline = time.monotonic() + timeout
    partitions = {}
    while not partitions and time.monotonic() < deadline:  # a topic created by its first message
        found = consumer.list_topics(topic, timeout=10).topics.get(topic)
        partitions = found.partitions if found is not None and found.error is None else {}
        if not partitions:
            time.sleep(0.5)
    # assign, not subscribe: no consumer-group rebalance to wait for
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages = []
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if len(messages) >= expected:
                    break
                continue
            value = None if message.value() is None else json.loads(message.value())  # None: a tombstone
            messages.append((message.key().decode() if message.key() else None, value,
                             dict((k, v.decode()) for k, v in (message.headers() or []))))
    finally:
        consumer.close()
    return messages
