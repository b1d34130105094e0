"""bench/scale_out.py's backlog: the first half of the events into topic A, the rest into B,
written side by side, so that deployments reading A and B while it is written (the window
bench) are busy at the same time. The order of the writes is the bench's own logic: a producer
that notes them stands in for Kafka here (tests/bench/test_scale_out_window.py and the bench's
runs use a real broker)."""

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import scale_out  # noqa: E402


class _Noting:
    """Notes (topic, event number) of each produce; refuses one in three at first (a full
    queue), as librdkafka's BufferError, to be retried after a poll."""

    def __init__(self, written):
        self.written, self.calls = written, 0

    def produce(self, topic, value, key=None):
        self.calls += 1
        if self.calls % 3 == 0:
            raise BufferError("queue full")
        self.written.append((topic, int(key)))

    def poll(self, timeout):
        return 0

    def flush(self, timeout):
        return 0


@given(st.integers(min_value=0, max_value=41), st.integers(min_value=0, max_value=10**6))
def test_each_topic_gets_its_half_in_order_and_the_two_are_written_side_by_side(count, first):
    written: list = []
    original = scale_out.backlog_producer
    scale_out.backlog_producer = lambda bootstrap: _Noting(written)
    try:
        scale_out.produce_halves("unused:9092", ("A", "B"), count, first=first)
    finally:
        scale_out.backlog_producer = original
    half = count // 2
    assert [n for t, n in written if t == "A"] == list(range(first, first + half))
    assert [n for t, n in written if t == "B"] == list(range(first + half, first + count))
    topics = [t for t, _ in written]
    assert topics[:2 * half] == ["A", "B"] * half  # never two of A in a row: B keeps up
