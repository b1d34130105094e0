"""bench/kafka_throughput.end_offsets: a topic just made may have no leader for a moment; the
bench asks again meanwhile instead of stopping, and stops on anything else."""

from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException

from bench.kafka_throughput import end_offsets


class _Consumer:
    """A consumer whose watermark lookups fail with ``errors`` first, then answer ``ends``."""

    def __init__(self, errors, ends):
        self.errors, self.ends, self.asked = list(errors), ends, 0

    def list_topics(self, topic, timeout):
        return SimpleNamespace(topics={topic: SimpleNamespace(partitions={p: None for p in self.ends})})

    def get_watermark_offsets(self, tp, timeout):
        self.asked += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return 0, self.ends[tp.partition]


def test_a_partition_without_a_leader_yet_is_asked_again():
    consumer = _Consumer([KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE], {0: 5, 1: 7})
    assert end_offsets(consumer, "t") == {0: 5, 1: 7} and consumer.asked == 4


def test_other_errors_and_a_leader_that_never_comes_stop_it():
    with pytest.raises(KafkaException):
        end_offsets(_Consumer([KafkaError._TRANSPORT], {0: 5}), "t")
    with pytest.raises(KafkaException):
        end_offsets(_Consumer([KafkaError.NOT_LEADER_FOR_PARTITION] * 1000, {0: 5}), "t", wait=0.3)
