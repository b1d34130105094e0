"""The Kafka source's group offsets, without a broker: committed one snapshot behind (Bytewax
snapshots a source as it reads the epoch's last batch, still on its way to the sinks), and the
last ones only once the run has ended normally (engine.run_context)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import run_context
from engine.connectors import kafka, kafka_health


class _Consumer:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def assign(self, partitions):
        pass

    def commit(self, offsets, asynchronous):
        self.calls.append(("commit", offsets[0].offset, asynchronous))

    def close(self):
        self.calls.append(("close",))


def _reader(monkeypatch, calls: list, group_id="g", resume=5):
    monkeypatch.setattr(kafka, "Consumer", lambda config: _Consumer(calls))
    monkeypatch.setattr(kafka_health, "Consumer", lambda config: _Consumer(calls))  # commit_at_end's
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", group_id=group_id, align=False)
    return kafka._KafkaReader(source.config, "t", 0, "earliest", resume, source)


# monkeypatch.setattr sets the same each time
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 50), max_size=12))
def test_each_snapshot_commits_the_offsets_of_the_snapshot_before(monkeypatch, reads):
    """Whatever is read between snapshots: a snapshot commits the offset the previous one gave
    (written by then), never its own (its last batch may not be)."""
    calls: list = []
    run_context.begin(None)
    reader = _reader(monkeypatch, calls)
    given_offsets = []
    for n in reads:
        reader._next += n  # what next_batch does with the messages it hands on
        given_offsets.append(reader.snapshot())
    assert given_offsets == [5 + sum(reads[:i + 1]) for i in range(len(reads))]  # the resume state is unchanged
    assert calls == [("commit", offset, True) for offset in given_offsets[:-1]]


def test_the_last_offsets_are_committed_only_after_a_normal_end(monkeypatch):
    calls: list = []
    run_context.begin(None)
    reader = _reader(monkeypatch, calls)
    reader._next = 9
    reader.snapshot()
    reader._next = 12
    reader.snapshot()
    reader.close()
    assert calls == [("commit", 9, True), ("close",)]  # 12 may still be on its way to a sink
    run_context.finish()  # the runner, after the dataflow returned
    assert calls[2:] == [("commit", 12, False), ("close",)]
    # a failed run: the runner never calls finish(); the next begin() forgets what was pending
    calls.clear()
    reader = _reader(monkeypatch, calls, resume=20)
    reader.snapshot()
    reader.close()
    run_context.begin(None)
    run_context.finish()
    assert calls == [("close",)]


def test_without_a_group_nothing_is_committed(monkeypatch):
    calls: list = []
    run_context.begin(None)
    reader = _reader(monkeypatch, calls, group_id=None)
    reader._next = 30
    reader.snapshot()
    reader.snapshot()
    reader.close()
    run_context.finish()
    assert calls == [("close",)]


class _Recording:
    """A consumer recording what each instance commits."""

    made: list = []

    def __init__(self, config) -> None:
        self.group, self.commits = config["group.id"], []
        _Recording.made.append(self)

    def assign(self, partitions):
        pass

    def commit(self, offsets, asynchronous):
        self.commits.append(sorted((tp.topic, tp.partition, tp.offset) for tp in offsets))

    def close(self):
        pass


def test_the_partitions_of_one_group_are_committed_at_the_end_in_one_request(monkeypatch):
    """One consumer per group and cluster after the run, not one per partition."""
    monkeypatch.setattr(kafka, "Consumer", _Recording)
    monkeypatch.setattr(kafka_health, "Consumer", _Recording)
    _Recording.made = []
    run_context.begin(None)
    readers = []
    for group, topic, partitions in (("g", "a", 3), ("g", "b", 1), ("h", "a", 1)):
        source = kafka.KafkaSource("127.0.0.1:1", topic=topic, group_id=group, align=False)
        readers += [kafka._KafkaReader(source.config, topic, p, "earliest", 10 * p + 1, source)
                    for p in range(partitions)]
    for reader in readers:
        reader.close()
    readers_made = len(_Recording.made)
    run_context.finish()
    committers = _Recording.made[readers_made:]
    assert sorted((c.group, c.commits) for c in committers) == [
        ("g", [[("a", 0, 1), ("a", 1, 11), ("a", 2, 21), ("b", 0, 1)]]), ("h", [[("a", 0, 1)]])]
    run_context.end()
