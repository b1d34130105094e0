"""``produce_all`` hands every message to the producer once, in order, with its headers, whatever
the messages hold and wherever the local queue is full; without a broker."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors.kafka_messages import QueueFull, produce_all


class _Producer:
    """``produce`` refuses (``BufferError``) at the calls listed in ``full``; ``poll`` drains."""

    def __init__(self, full: set) -> None:
        self.full, self.calls, self.polls = full, 0, 0
        self.queued: list = []

    def produce(self, topic, value=None, key=None, *rest, **options):
        assert not rest  # never a partition, callback or timestamp by position
        self.calls += 1
        if self.calls in self.full:
            raise BufferError("Local: Queue full")
        self.queued.append((topic, key, value, options.get("headers")))

    def poll(self, timeout):
        self.polls += 1
        return 0


keys = st.one_of(st.none(), st.just(""), st.just(b""), st.text(max_size=3), st.binary(max_size=3))
headers = st.one_of(st.none(), st.just([("h", b"v")]), st.just([("h", None), ("i", b"")]))
messages = st.lists(st.tuples(st.sampled_from(["t", "u"]), keys, st.binary(max_size=4), headers), max_size=30)


@settings(max_examples=400, deadline=None)
@given(messages, st.sets(st.integers(1, 60), max_size=12))
def test_every_message_is_produced_once_in_order(batch, full):
    producer = _Producer(full)
    produce_all(producer, batch, time.monotonic() + 60)  # type: ignore[arg-type]
    assert producer.queued == batch
    assert producer.polls == producer.calls - len(batch)  # one drain per refusal, then that message again


def test_a_queue_full_past_the_deadline_raises_queue_full_with_what_went_before_queued():
    producer = _Producer(set(range(3, 1000)))
    batch = [("t", str(i), b"v", None) for i in range(5)]
    with pytest.raises(QueueFull):
        produce_all(producer, batch, time.monotonic() - 1)  # type: ignore[arg-type]
    assert producer.queued == batch[:2]


def test_another_refusal_of_the_producer_is_raised_as_it_is():
    class Refusing(_Producer):
        def produce(self, topic, value=None, key=None, *rest, **options):
            if key == "bad":
                raise ValueError("refused")
            super().produce(topic, value, key, **options)

    producer = Refusing(set())
    with pytest.raises(ValueError):
        produce_all(producer, [("t", "a", b"1", None), ("t", "bad", b"2", None), ("t", "c", b"3", None)],  # type: ignore[arg-type]
                    time.monotonic() + 5)
    assert producer.queued == [("t", "a", b"1", None)]
