"""A new idempotent producer of the Kafka sink (and of ``publish``) asks for its producer id at
once (``kafka_warm_up.warm_up``): without it librdkafka usually waits for a 500 ms timer, and the
flow's first confirmation of deliveries waited up to ~0.9 s for it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from engine.connectors.kafka_sink import KafkaSink
from engine.connectors.kafka_warm_up import warm_up

SLOW = 0.45  # s: under librdkafka's 500 ms timer, which a delivery without warm_up waits for (an asked-for
# id takes a few ms: the margin is for a loaded CI box, where 0.3 s could be a round trip)


class _Asked:
    """``list_topics`` answered by the given broker ids in turn (-1: the bootstrap connection)."""

    def __init__(self, *answers) -> None:
        self.answers, self.timeouts = list(answers), []

    def list_topics(self, topic, timeout):
        self.timeouts.append(timeout)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(orig_broker_id=answer)


@pytest.mark.parametrize("answers, asks", [((1,), 1), ((-1, 1), 2), ((-1, -1, -1, 1), 3),
                                           ((KafkaException(KafkaError(KafkaError._TIMED_OUT)),), 1),
                                           ((-1, KafkaException(KafkaError(KafkaError._TRANSPORT))), 2)])
def test_it_asks_until_a_known_broker_answers_three_times_at_most_and_never_raises(answers, asks):
    producer = _Asked(*answers)
    warm_up(producer, "t", 5.0)  # type: ignore[arg-type]
    assert len(producer.timeouts) == asks
    assert all(0 <= t <= 5.0 for t in producer.timeouts)  # one deadline for all the asks
    assert producer.timeouts == sorted(producer.timeouts, reverse=True)


def _idempotent(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 5, "log_level": 0})


def _broker_ready(bootstrap: str, topic: str) -> None:
    """One untimed idempotent delivery: a broker just started answers the first producer id
    request with 'coordinator load in progress', and librdkafka retries it later (seen: 0.53 s),
    whatever the producer did. The tests below time the producer's wait, not the broker's."""
    producer = _idempotent(bootstrap)
    producer.produce(topic, b"{}", b"k")
    assert producer.flush(30) == 0


def test_a_warmed_up_producer_delivers_at_once(kafka_bootstrap, kafka_topic):
    topic = kafka_topic("warm", partitions=2)
    _broker_ready(kafka_bootstrap, topic)
    for _ in range(3):  # a fresh producer each time: without warm_up nearly every one waits ~500 ms
        producer = _idempotent(kafka_bootstrap)
        warm_up(producer, topic, 10.0)
        started = time.monotonic()
        producer.produce(topic, b"{}", b"k")
        assert producer.flush(10) == 0
        assert time.monotonic() - started < SLOW


def test_the_sinks_first_confirmation_does_not_wait_for_the_id(kafka_bootstrap, kafka_topic):
    topic = kafka_topic("warm", partitions=2)
    _broker_ready(kafka_bootstrap, topic)
    sink = KafkaSink(kafka_bootstrap, topic=topic)
    encode = sink.batch_encoder()
    for attempt in range(3):
        writer = sink.build_part("out", "00000", None)
        started = time.monotonic()
        writer.write_batch([encode([{"n": attempt}])])
        writer.snapshot()  # waits until delivered
        assert time.monotonic() - started < SLOW  # (the warm-up's metadata request runs on its own thread)
        writer.close()


def test_publish_warms_its_producer_up_with_its_first_topic(kafka_bootstrap, kafka_topic, tmp_path, monkeypatch):
    from engine.connectors import kafka_publish

    asked: list = []
    monkeypatch.setattr(kafka_publish, "warm_up", lambda producer, topic, timeout: asked.append(topic)
                        or warm_up(producer, topic, timeout))
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    first, second = kafka_topic("pub"), kafka_topic("pub")
    _broker_ready(kafka_bootstrap, first)
    started = time.monotonic()
    counts = kafka_publish.publish_jsonl(kafka_bootstrap, {first: (str(tmp_path / "a.jsonl"), ["id"]),
                                                           second: (str(tmp_path / "a.jsonl"), None)})
    assert counts == {first: 2, second: 2} and asked == [first]
    assert time.monotonic() - started < SLOW  # ~0.6 s when the id waited for the timer, ~0.15 s here
