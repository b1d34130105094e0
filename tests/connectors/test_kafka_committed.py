"""kafka_health.committed: a group coordinator that is not ready yet (a new group's first request,
a broker restart) is asked again within the timeout, instead of stopping the flow (a resumed
exactly-once sink reads its marker so; a source with ``start: committed`` its offsets)."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from engine.connectors.kafka_health import committed


class _Coordinator:
    """A consumer whose ``committed`` fails with ``errors`` first, then answers."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.calls = 0

    def committed(self, partitions, timeout):
        self.calls += 1
        assert timeout > 0
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return [TopicPartition(p.topic, p.partition, 42) for p in partitions]


@pytest.mark.parametrize("code", [KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                  KafkaError.COORDINATOR_NOT_AVAILABLE])
def test_a_coordinator_not_ready_is_asked_again(code):
    consumer = _Coordinator(code, code)
    (found,) = committed(consumer, [TopicPartition("t", 0)], timeout=10)
    assert found.offset == 42 and consumer.calls == 3


def test_another_error_is_raised_at_once():
    consumer = _Coordinator(KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        committed(consumer, [TopicPartition("t", 0)], timeout=10)
    assert consumer.calls == 1


def test_a_coordinator_never_ready_fails_within_the_timeout():
    consumer = _Coordinator(*[KafkaError.NOT_COORDINATOR] * 1000)
    started = time.monotonic()
    with pytest.raises(KafkaException):
        committed(consumer, [TopicPartition("t", 0)], timeout=1.0)
    assert time.monotonic() - started < 2.0 and consumer.calls > 1
