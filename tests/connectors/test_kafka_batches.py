"""The Kafka source and sink without a broker: the offset a reader is assigned, and the
sink's encoder on keys and headers."""

from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING

from engine.connectors import kafka
from engine.connectors.kafka_sink import KafkaSink


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


def test_a_reader_is_assigned_its_start_offset(monkeypatch):
    """A logical start (``earliest``) is assigned as it is, a resumed reader its offset, a
    committed start the group's offset. (Asking for the topic's metadata before a logical
    start, to spare librdkafka's 500 ms retry, was taken back: see docs/performance.md.)"""
    calls: list = []
    monkeypatch.setattr(kafka, "Consumer", lambda config: _Consumer(calls))
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    kafka._KafkaReader(source.config, "t", 0, "earliest", None, source)
    assert calls == [("assign", OFFSET_BEGINNING)]
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
