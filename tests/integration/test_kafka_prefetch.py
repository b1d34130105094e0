"""A Kafka source's partition keeps at most its prefetch cap of fetched, undelivered messages in
librdkafka's queue (2 MiB unless ``settings`` say otherwise), read from librdkafka's own
statistics (real Kafka): the memory a flow holds per partition it reads."""

from __future__ import annotations

import json
import time

from confluent_kafka import Producer

from engine.connectors.kafka import KafkaSource

VALUE = b"x" * 4000
MIB = 1 << 20


def _fill(bootstrap: str, topic: str, mib: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 64 * 1024})  # small batches:
    # a fetch stops at the batch that takes it past 1 MiB (max.partition.fetch.bytes)
    for _ in range(mib * MIB // len(VALUE)):
        producer.produce(topic, VALUE)
        producer.poll(0)
    assert producer.flush(60) == 0


def _queued_bytes(bootstrap: str, topic: str, settings=None) -> int:
    """The bytes librdkafka holds fetched for the partition once it has had time to prefetch,
    one message read (statistics are handed over by the consumer's calls)."""
    stats: list = []
    source = KafkaSource(bootstrap, topic=topic, tail=False, align=False, settings=settings)
    source.config.update({"statistics.interval.ms": 100, "stats_cb": stats.append})
    reader = source.build_part("s", f"{topic}#0", None)
    try:
        deadline = time.monotonic() + 30
        while not any(reader._consumer.consume(1, 0.2)):  # assigned, fetching
            assert time.monotonic() < deadline, "nothing fetched"
        time.sleep(2)  # far longer than the local broker needs to fill the queue up to its cap
        seen = len(stats)
        while len(stats) <= seen + 1:  # a statistics report made after the wait
            reader._consumer.consume(1, 0.2)
            assert time.monotonic() < deadline, "no statistics"
        return json.loads(stats[-1])["topics"][topic]["partitions"]["0"]["fetchq_size"]
    finally:
        reader.close()


def test_a_partition_prefetches_about_its_cap_and_settings_raise_it(kafka_bootstrap, kafka_topic):
    topic = kafka_topic("prefetch")
    _fill(kafka_bootstrap, topic, 16)
    default = _queued_bytes(kafka_bootstrap, topic)
    assert MIB < default <= 2 * MIB + MIB + 256 * 1024  # the cap, plus at most one fetch (1 MiB) past it
    raised = _queued_bytes(kafka_bootstrap, topic, settings={"queued.max.messages.kbytes": 8192})
    assert raised > 6 * MIB  # librdkafka's own setting wins
