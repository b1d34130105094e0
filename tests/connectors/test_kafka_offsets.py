"""The Kafka source's batch offsets, without a broker: a ``range`` for consecutive offsets (no
list built per message), the list when there are gaps (compaction, transaction markers), and
either way the offsets of the messages, as a dead letter's position shows them."""

from __future__ import annotations

from confluent_kafka import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors import kafka


class _Consumer:
    def __init__(self, batches: list) -> None:
        self.batches = batches

    def assign(self, partitions):
        pass

    def consume(self, count, timeout):
        return self.batches.pop(0) if self.batches else []


# strictly increasing offsets: each the one before plus a gap of 1 (consecutive) or more
gaps = st.lists(st.lists(st.sampled_from([1, 1, 1, 2, 7]), min_size=1, max_size=30), min_size=1, max_size=4)


# monkeypatch.setattr sets the same each time
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps, st.integers(0, 10**12))
def test_a_batch_carries_the_offsets_of_its_messages(monkeypatch, batches_gaps, start):
    expected, batches, offset = [], [], start
    for batch_gaps in batches_gaps:
        offsets = []
        for gap in batch_gaps:
            offset += gap
            offsets.append(offset)
        expected.append(offsets)
        batches.append([Message(offset=o, value=b"{}") for o in offsets])
    monkeypatch.setattr(kafka, "Consumer", lambda config: _Consumer(batches))
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    reader = kafka._KafkaReader(source.config, "t", 0, "earliest", start + 1, source)
    for offsets in expected:
        (batch,) = reader.next_batch()
        assert list(batch.offsets) == offsets
        assert isinstance(batch.offsets, range) == (offsets[-1] - offsets[0] + 1 == len(offsets))
        assert [batch.position(i) for i in range(len(offsets))] == [f"t[0]@{o}" for o in offsets]
        assert list(batch.single(len(offsets) - 1).offsets) == offsets[-1:]
        assert reader.snapshot() == offsets[-1] + 1
