"""The lookup's key batching and cache (engine/operators/joins/lookup.py), whatever table it
reads: a property test over random batches, table changes and clock steps, against a table in
memory standing in for the database."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.joins.lookup import Lookup

KEYS = st.sampled_from(["a", "b", "c", "d", "e", None])


class Table:
    """Key -> value, with every value each key had since time 0 (for the staleness bound)."""

    def __init__(self):
        self.now = 0.0
        self.rows = {}
        self.history = {}  # key -> [(since, value)]
        self.reads = []  # the keys of each query

    def set(self, key, value):
        self.rows.pop(key, None) if value is None else self.rows.__setitem__(key, value)
        self.history.setdefault(key, []).append((self.now, value))

    def held(self, key, start, end):
        """The values ``key`` had at some time in (start, end]."""
        values, current = set(), None
        for since, value in self.history.get(key, []):
            if since <= start:
                current = value
            elif since <= end:
                values.add(value)
        return values | {current}

    # the reader's interface
    def columns(self):
        return None

    def read(self, keys):
        self.reads.append(list(keys))
        return {k: (self.rows[k],) for k in keys if k in self.rows}


STEPS = st.lists(st.one_of(
    st.tuples(st.just("batch"), st.lists(KEYS, max_size=8)),
    st.tuples(st.just("set"), KEYS.filter(lambda k: k is not None), st.one_of(st.none(), st.integers(0, 9))),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 1.0, 3.0, 10.0])),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps=STEPS, ttl=st.sampled_from(["1s", "5s"]), capacity=st.integers(0, 4),
       how=st.sampled_from(["left", "inner"]))
def test_one_query_per_batch_for_the_keys_the_cache_lacks_and_rows_at_most_ttl_old(steps, ttl, capacity, how):
    table = Table()
    step = Lookup("l", {"duckdb": "/nonexistent.duckdb", "table": "t", "key": "k", "on": "k", "fields": {"v": "v"},
                        "ttl": ttl, "cache": capacity, "how": how}, None, clock=lambda: table.now)
    step.reader = table
    seconds = float(ttl[:-1])
    batches = 0
    for action, *args in steps:
        if action == "set":
            table.set(*args)
        elif action == "wait":
            table.now += args[0]
        else:
            batch = [{"k": k, "n": i} for i, k in enumerate(args[0])]
            batches += 1
            before = len(table.reads)
            out, dead = step.process(batch)
            assert dead == []
            new = table.reads[before:]
            assert len(new) <= 1  # one query per batch at most
            if new:  # holding each key at most once, never a null key, only keys of the batch
                assert len(new[0]) == len(set(new[0])) and None not in new[0]
                assert set(new[0]) <= set(args[0])
            shown = [e["n"] for e in out]
            if how == "left":
                assert shown == [e["n"] for e in batch]
            else:  # inner: in order, and an event left out had no row (a null key, or an absence cached)
                assert shown == sorted(shown) and set(shown) <= {e["n"] for e in batch}
                assert all(e["k"] is None or None in table.held(e["k"], table.now - seconds, table.now)
                           for e in batch if e["n"] not in shown)
            for event in out:  # the row as the table held it at most ttl ago (or its absence)
                if event["k"] is None:
                    assert event["v"] is None
                else:
                    assert event["v"] in table.held(event["k"], table.now - seconds, table.now)
                    assert event["v"] is not None or how == "left"
            if new and capacity >= len(set(k for k in args[0] if k is not None)):
                again = len(table.reads)
                step.process(batch)  # at once again: every key cached
                assert len(table.reads) == again
    assert len(table.reads) <= batches


def test_a_key_read_fresh_is_not_read_again_within_ttl():
    table = Table()
    table.set("a", 1)
    step = Lookup("l", {"duckdb": "/nonexistent.duckdb", "table": "t", "key": "k", "on": "k", "fields": {"v": "v"},
                        "ttl": "5s"}, None, clock=lambda: table.now)
    step.reader = table
    step.process([{"k": "a"}, {"k": "b"}])
    table.now = 4.9
    step.process([{"k": "a"}, {"k": "b"}, {"k": "c"}])
    assert table.reads == [["a", "b"], ["c"]] or table.reads == [["b", "a"], ["c"]]
