"""Partitions read together stay within the alignment lead of each other (real Kafka)."""

from __future__ import annotations

import time

from confluent_kafka import Producer

from engine.connectors.kafka import KafkaSource
from engine.connectors.kafka_align import Alignment
from engine.metrics import Gauges

BASE = int(time.time() * 1000)


def _produce(bootstrap: str, topic: str, stamps_ms: list) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for index, stamp in enumerate(stamps_ms):
        producer.produce(topic, b'{"i": %d}' % index, timestamp=BASE + stamp)
    assert producer.flush(30) == 0


def _readers(bootstrap: str, topics: list, group: str, align):
    source = KafkaSource(bootstrap, topics=topics, group_id=group, tail=False, batch_size=100, align=align)
    readers = {part: source.build_part("s", part, None) for part in source.list_parts()}
    time.sleep(2)  # librdkafka prefetches every partition: the first round finds data everywhere
    return readers


def _read_round_robin(readers: dict) -> list:
    """(partition, offsets) of every batch, reading the partitions in turn as Bytewax does."""
    batches, live = [], dict(readers)
    deadline = time.monotonic() + 60
    while live and time.monotonic() < deadline:
        for part, reader in list(live.items()):
            try:
                for batch in reader.next_batch():
                    batches.append((part, batch.offsets))
            except StopIteration:
                reader.close()
                del live[part]
    assert not live, "the partitions did not reach their ends"
    return batches


def _sparse_and_dense(bootstrap: str, kafka_topic) -> tuple:
    """A topic with a message every 10 s and one with ten per second, over the same 300 s."""
    sparse, dense = kafka_topic("sparse"), kafka_topic("dense")
    _produce(bootstrap, sparse, [i * 10_000 for i in range(30)])
    _produce(bootstrap, dense, [i * 100 for i in range(3000)])
    return sparse, dense


def _worst_lead_ms(batches: list, sparse: str) -> int:
    """How far the sparse topic's deliveries ran ahead of the dense topic's progress."""
    dense_seen, worst = -100, 0
    for part, offsets in batches:
        if part.startswith(sparse):
            worst = max(worst, offsets[-1] * 10_000 - (dense_seen + 100))
        else:
            dense_seen = offsets[-1] * 100
    return worst


def test_a_sparse_topic_waits_for_a_dense_one_and_nothing_is_lost(kafka_bootstrap, kafka_topic):
    sparse, dense = _sparse_and_dense(kafka_bootstrap, kafka_topic)
    batches = _read_round_robin(_readers(kafka_bootstrap, [sparse, dense], "align-test", "1s"))
    # the dense topic is 3000 messages = 30 batches: without alignment the sparse one is read
    # to its end (290 s) in the first round; aligned it never gets more than 1 s ahead
    assert _worst_lead_ms(batches, sparse) <= 1000
    for topic, count in ((sparse, 30), (dense, 3000)):
        offsets = [o for part, offs in batches if part.startswith(topic) for o in offs]
        assert offsets == list(range(count))  # every message once, in order


def test_without_alignment_the_sparse_topic_runs_ahead(kafka_bootstrap, kafka_topic):
    sparse, dense = _sparse_and_dense(kafka_bootstrap, kafka_topic)
    batches = _read_round_robin(_readers(kafka_bootstrap, [sparse, dense], "align-test-off", False))
    assert _worst_lead_ms(batches, sparse) > 60_000  # far beyond the 1 s lead


def test_a_held_back_partition_resumes_from_its_first_undelivered_message(kafka_bootstrap, kafka_topic):
    sparse, dense = _sparse_and_dense(kafka_bootstrap, kafka_topic)
    readers = _readers(kafka_bootstrap, [sparse, dense], "align-test-resume", "1s")
    sparse_reader, dense_reader = readers[f"{sparse}#0"], readers[f"{dense}#0"]
    dense_last, sparse_offsets, deadline = -1, [], time.monotonic() + 30
    while dense_last < 150 and time.monotonic() < deadline:  # the dense topic reaches ~15 s
        dense_last = max([dense_last] + [b.offsets[-1] for b in dense_reader.next_batch()])
        sparse_offsets += [o for b in sparse_reader.next_batch() for o in b.offsets]
    sparse_offsets += [o for _ in range(3) for b in sparse_reader.next_batch() for o in b.offsets]
    # consumed (all 30 fit one batch) but delivered only up to 1 s past the dense topic's front
    assert sparse_offsets == [i for i in range(30) if i * 10_000 <= dense_last * 100 + 1000]
    assert sparse_reader.snapshot() == sparse_offsets[-1] + 1
    for reader in readers.values():
        reader.close()


def test_the_partition_with_the_oldest_front_may_always_go():
    align = Alignment(lead_ms=1000)
    a, b, c = object(), object(), object()
    assert align.limit(a) is None  # nobody lags
    align.set_front(b, 5000)
    align.set_front(c, 7000)
    assert align.limit(a) == 6000
    assert align.limit(b) == 8000  # b is the oldest: held only by c, which is newer
    align.set_front(b, None)  # caught up
    assert align.limit(a) == 8000
    align.leave(c)
    assert align.limit(a) is None


def test_a_topic_written_in_transactions_is_caught_up_past_its_last_commit_marker(kafka_bootstrap, kafka_topic):
    """A commit marker takes an offset and is never delivered: read to its end, the partition no
    longer lags (before: by one for ever, so its front held the partitions read with it for up to
    a second after each delivery)."""
    import uuid

    topic = kafka_topic("committed")
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"a-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    for batch in range(2):
        producer.begin_transaction()
        for index in range(3):
            producer.produce(topic, b'{"i": %d}' % (3 * batch + index), timestamp=BASE + index)
        producer.flush(30)
        producer.commit_transaction(30)
    source = KafkaSource(kafka_bootstrap, topic=topic, group_id=f"g-{uuid.uuid4().hex}", tail=True, align="100ms")
    gauges = Gauges()
    source.attach_gauges(gauges)
    (part,) = source.list_parts()
    reader = source.build_part("s", part, None)
    try:
        read, deadline = [], time.monotonic() + 30
        while len(read) < 6 and time.monotonic() < deadline:
            read += [offset for batch in reader.next_batch() for offset in batch.offsets]
        assert read == [0, 1, 2, 4, 5, 6]  # markers at 3 and 7
        reader.next_batch()  # one more poll: nothing new, the front says where the partition is
        assert reader._lags() is False
        assert reader._front is None  # caught up: it holds nobody back
        assert gauges.snapshot()["lag"] == 0  # the health view's lag too (it showed 1 for ever)
    finally:
        reader.close()
