"""The Kafka source's per-batch work, without a broker: a fetched batch's errors, the alignment's cut of a batch, the
metadata asked for before a logical start offset (on a thread of the reader), the sink's encoder on keys and
headers, and how long an empty partition naps."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_NOT_AVAILABLE,
    KafkaError,
    KafkaException,
    Message,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors import kafka, kafka_meta
from engine.connectors.errors import ConnectorError
from engine.connectors.kafka_sink import KafkaSink

stamps = st.tuples(st.sampled_from([TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE]), st.integers(-5, 60))


@settings(max_examples=500, deadline=None)
@given(st.lists(stamps, max_size=12), st.integers(-7, 60))
def test_the_alignment_cuts_a_batch_before_its_first_message_past_the_limit(pairs, limit):
    """Stamps in any order, any limit (the whole batch within is found in C first)."""
    messages = [Message(timestamp=pair) for pair in pairs]
    expected = 0  # the rule as it was written first: one _stamp call per message
    while expected < len(messages) and kafka_meta.stamp_of(messages[expected]) <= limit:
        expected += 1
    assert kafka_meta.within(messages, limit) == expected


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

    def get_watermark_offsets(self, partition, timeout):  # latest: the end is looked up and kept
        self.calls.append(("watermarks",))
        return 3, 12


def test_a_logical_start_offset_is_assigned_once_the_topic_metadata_is_known(monkeypatch):
    """librdkafka looks ``earliest``/``latest`` up at the partition's leader and, when it does not
    know the leader yet, tries again 500 ms later: every flow started with half a second idle."""
    calls: list = []
    monkeypatch.setattr(kafka, "Consumer", lambda config: _Consumer(calls))
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    reader = kafka._KafkaReader(source.config, "t", 0, "earliest", None, source)
    assert reader._assigning is not None  # on a thread of its own: the partitions' waits overlap
    reader._assigning.join()
    assert calls == [("list_topics", "t"), ("assign", OFFSET_BEGINNING)]
    calls.clear()
    kafka._KafkaReader(source.config, "t", 0, "earliest", 42, source)  # resumed: an offset, nothing to look up
    kafka._KafkaReader(source.config, "t", 0, "committed", None, source)
    assert calls == [("assign", 42), ("committed",), ("assign", 7)]


class _Slow(_Consumer):
    """The topic's metadata comes when ``answer`` is set; ``assign`` may fail; reads are noted."""

    def __init__(self, calls: list, fail: bool = False) -> None:
        super().__init__(calls)
        self.answer, self.fail = threading.Event(), fail

    def list_topics(self, topic, timeout):
        assert self.answer.wait(10)
        super().list_topics(topic, timeout)

    def assign(self, partitions):
        if self.fail:
            raise KafkaException(KafkaError(KafkaError._INVALID_ARG))
        super().assign(partitions)

    def consume(self, count, timeout):
        self.calls.append(("consume",))
        return []

    def close(self):
        self.calls.append(("close",))


@pytest.mark.parametrize("fail", [False, True])
def test_a_reader_reads_nothing_until_assigned_and_then_fails_if_the_assignment_did(monkeypatch, fail):
    calls: list = []
    consumer = _Slow(calls, fail)
    monkeypatch.setattr(kafka, "Consumer", lambda config: consumer)
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    reader = kafka._KafkaReader(source.config, "t", 0, "earliest", None, source)  # returns at once
    assert reader.next_batch() == [] and reader.next_awake() is not None  # idle while being assigned
    assert calls == []
    consumer.answer.set()
    reader._assigning.join()  # type: ignore[union-attr]
    if fail:
        with pytest.raises(KafkaException):
            reader.next_batch()
    else:
        assert reader.next_batch() == []
        assert calls == [("list_topics", "t"), ("assign", OFFSET_BEGINNING), ("consume",)]


def test_closing_a_reader_being_assigned_waits_for_the_assignment(monkeypatch):
    calls: list = []
    consumer = _Slow(calls)
    monkeypatch.setattr(kafka, "Consumer", lambda config: consumer)
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    reader = kafka._KafkaReader(source.config, "t", 0, "latest", None, source)
    threading.Timer(0.2, consumer.answer.set).start()
    reader.close()
    assert calls == [("list_topics", "t"), ("watermarks",), ("assign", 12), ("close",)]
    assert reader.snapshot() == 12  # an offset, not "latest" again after a restart


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


class _Fetched:
    """A consumer whose ``consume`` hands out one prepared batch."""

    def __init__(self, batch: list) -> None:
        self.batch = batch

    def consume(self, count, timeout):
        return self.batch


errors = st.sampled_from([KafkaError._PARTITION_EOF, KafkaError._TRANSPORT, KafkaError.OFFSET_OUT_OF_RANGE,
                          KafkaError.NO_ERROR])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), errors), max_size=8))
def test_a_fetched_batch_ends_at_the_partition_end_and_fails_at_any_other_error(kinds):
    """Messages with an error anywhere in a batch (the end of the partition, a broker error,
    even an error of code 0): as the rule checking each message in turn decides."""
    batch = [Message(value=b"v", offset=i) if kind is None else Message(error=KafkaError(kind), offset=i)
             for i, kind in enumerate(kinds)]
    first = next((i for i, kind in enumerate(kinds) if kind is not None), None)
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    reader = object.__new__(kafka._KafkaReader)
    reader._consumer, reader._source, reader._origin, reader._ended = _Fetched(batch), source, "t[0]", False
    if first is None:
        assert reader._consume() is batch and not reader._ended
    elif kinds[first] == KafkaError._PARTITION_EOF:
        assert reader._consume() == batch[:first] and reader._ended
    else:
        with pytest.raises(ConnectorError, match=r"kafka source: t\[0\]: "):
            reader._consume()


class _Scripted:
    """A consumer whose ``consume`` hands out the next of ``sizes`` messages each time (0: none)."""

    def __init__(self, sizes: list) -> None:
        self.sizes, self.offset = list(sizes), 0

    def assign(self, partitions):
        pass

    def consume(self, count, timeout):
        size = min(self.sizes.pop(0), count)
        batch = [Message(value=b"{}", offset=self.offset + i) for i in range(size)]
        self.offset += size
        return batch

    def get_watermark_offsets(self, partition, cached=False):
        return 0, self.offset


class _Now:
    """``datetime`` for kafka.py, its clock stopped at ``AT``."""

    AT = datetime(2026, 12, 3, tzinfo=timezone.utc)

    @classmethod
    def now(cls, tz=None):
        return cls.AT


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0, 0, 0, 1, 100]), min_size=1, max_size=40))
def test_an_empty_partition_naps_1_ms_for_its_first_polls_after_a_delivery_then_5(sizes):
    """A partition that delivered wakes the worker at once; its first ``CATCH_UP_POLLS`` empty
    polls after that (or after the start) nap ``CATCH_UP_WAIT`` (the fetcher is a moment behind a
    stream), later ones ``IDLE_WAIT`` (an idle flow does not spin)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kafka, "Consumer", lambda config: _Scripted(sizes))
        patch.setattr(kafka, "datetime", _Now)
        _polls(sizes)


def _polls(sizes: list) -> None:
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
    reader = kafka._KafkaReader(source.config, "t", 0, "earliest", 0, source)  # an offset: assigned at once
    empties = 0
    for size in sizes:
        batch = reader.next_batch()
        assert sum(len(b.values) for b in batch) == size
        empties = 0 if size else empties + 1
        expected = None if not empties else _Now.AT + (
            kafka.CATCH_UP_WAIT if empties <= kafka.CATCH_UP_POLLS else kafka.IDLE_WAIT)
        assert reader.next_awake() == expected


class _Clock:
    """``time`` for kafka.py: ``monotonic()`` reads ``at``."""

    at = 0.0

    @classmethod
    def monotonic(cls):
        return cls.at


def test_the_batch_that_ends_an_epoch_naps_instead_of_waking_the_worker_at_once():
    """In a run with 5 s epochs, a partition delivering as its epoch is due to end asks for a
    nap (Bytewax then reads nothing until the dataflow is past the epoch: without it the worker
    steps without work until then); its next epoch starts when Bytewax snapshots it. Outside a
    run nothing is known of epochs."""
    from engine import run_context

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kafka, "Consumer", lambda config: _Scripted([100] * 5 + [0]))
        patch.setattr(kafka, "datetime", _Now)
        patch.setattr(kafka, "time", _Clock)
        _Clock.at = 100.0
        run_context.begin(None, 5.0)
        try:
            source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False)
            reader = kafka._KafkaReader(source.config, "t", 0, "earliest", 0, source)
        finally:
            run_context.end()
        outside = kafka._KafkaReader(source.config, "t", 0, "earliest", 0, source)
        woken = []
        for at in (101.0, 104.9, 104.999, 105.2):
            _Clock.at = at
            reader.next_batch()
            woken.append(reader.next_awake())
        assert woken == [None, None, _Now.AT + kafka.EPOCH_END_WAIT, _Now.AT + kafka.EPOCH_END_WAIT]
        reader.snapshot()  # the epoch ends: the next one starts now
        _Clock.at = 105.3
        reader.next_batch()
        assert reader.next_awake() is None
        _Clock.at = 200.0
        reader.next_batch()  # (the script's last: nothing)
        assert reader.next_awake() == _Now.AT + kafka.CATCH_UP_WAIT  # an empty poll naps as before
        outside.next_batch()
        assert outside.next_awake() is None  # 100 s on, but no run said how long its epochs are
