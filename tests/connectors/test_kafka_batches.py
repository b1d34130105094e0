"""The Kafka source's per-batch work, without a broker: the alignment's cut of a batch, the
metadata asked for before a logical start offset, and the sink's encoder on keys and headers."""

from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE
from hypothesis import given, settings, strategies as st

from engine.connectors import kafka
from engine.connectors.kafka_sink import KafkaSink


class _Message:
    def __init__(self, kind: int, stamp: int) -> None:
        self._stamp = (kind, stamp)

    def timestamp(self):
        return self._stamp


stamps = st.tuples(st.sampled_from([TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE]), st.integers(-5, 60))


@settings(max_examples=300, deadline=None)
@given(st.lists(stamps, max_size=12), st.integers(-2, 60))
def test_the_alignment_cuts_a_batch_before_its_first_message_past_the_limit(pairs, limit):
    messages = [_Message(kind, stamp) for kind, stamp in pairs]
    expected = 0  # the rule as it was written first: one _stamp call per message
    while expected < len(messages) and kafka._stamp(messages[expected]) <= limit:
        expected += 1
    assert kafka._within(messages, limit) == expected


class _Consumer:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def list_topics(self, topic, timeout):
        self.calls.append(("list_topics", topic))

    def assign(self, partitions):
        self.calls.append(("assign", partitions[0].offset))

    def committed(self, partitions, timeout):
        self.calls.append(("committed",))
        return [type("Committed", (), {"offset": 7})()]


def test_a_logical_start_offset_is_assigned_once_the_topic_metadata_is_known(monkeypatch):
    """librdkafka looks ``earliest``/``latest`` up at the partition's leader and, when it does not
    know the leader yet, tries again 500 ms later: every flow started with half a second idle."""
    calls: list = []
    monkeypatch.setattr(kafka, "Consumer", lambda config: _Consumer(calls))
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    kafka._KafkaReader(source.config, "t", 0, "earliest", None, source)
    assert calls == [("list_topics", "t"), ("assign", OFFSET_BEGINNING)]
    calls.clear()
    kafka._KafkaReader(source.config, "t", 0, "earliest", 42, source)  # resumed: an offset, nothing to look up
    kafka._KafkaReader(source.config, "t", 0, "committed", None, source)
    assert calls == [("assign", 42), ("committed",), ("assign", 7)]


def test_keys_and_headers_of_every_kind_encode_as_before():
    class Text(str):
        pass

    encode = KafkaSink("127.0.0.1:1", topic="t").encoder()
    assert encode({"a": 1, "_key": 5}) == ("t", b"5", b'{"a":1}', None)
    assert encode({"a": 1, "_key": Text("k\u00e9")}) == ("t", "k\u00e9".encode(), b'{"a":1}', None)
    assert encode({"a": 1, "_key": None, "_headers": {}}) == ("t", None, b'{"a":1}', None)
    assert encode({"a": 1, "_headers": 0}) == ("t", None, b'{"a":1}', None)
    assert encode({"a": 1, "_headers": {"h": None, "n": 2}}) == ("t", None, b'{"a":1}', [("h", None), ("n", b"2")])
    assert encode({"_topic": "t", "b": [1]}) == ("t", None, b'{"b":[1]}', None)
