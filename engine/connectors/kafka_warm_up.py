"""A new idempotent producer's id asked for at once (the Kafka sink's producer, ``publish``'s)."""

from __future__ import annotations

import time

from confluent_kafka import KafkaException, Producer


def warm_up(producer: Producer, topic: str, timeout: float) -> None:
    """Have a new idempotent producer ask for its producer id now, not in 500 ms.

    librdkafka asks for the id once a broker is up: at the start only the bootstrap connection
    is, and it is closed as soon as the first metadata names the brokers; the id then waits for
    a 500 ms timer unless a metadata answer comes from a broker it knows by id (so: ask until
    one does). The first confirmation of bench/kafka_throughput.py's topology (200,000 events)
    waited 267-942 ms in 4 runs of 6 without this, 2-21 ms in 6 of 6 with it (the sink asks on a
    thread of its own while its worker goes on handing messages over)."""
    deadline = time.monotonic() + timeout
    try:
        for _ in range(3):
            if producer.list_topics(topic, timeout=max(0.0, deadline - time.monotonic())).orig_broker_id >= 0:
                return
    except KafkaException:
        pass  # the brokers do not answer: the writes find out, and say so
