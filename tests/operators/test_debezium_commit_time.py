"""The commit time: Debezium's ``source.ts_ms`` (when the database made the change: the commit,
for PostgreSQL), as the ``debezium`` step's ``source_ts_ms`` and ``merge_transactions``'
``source_ts_ms`` (the highest of a key's changes: the same for a transaction's, whatever order its
tables' topics deliver them in). The top-level ``ts_ms`` is when Debezium read the change: a
domain event's ``occurred_at`` made of it moved with the connector's lag and the arrival order."""

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.debezium import Debezium
from engine.operators.transaction_net import net_events

COMMIT = 1764572400000


def _change(table, tx, lsn, read_ms, commit_ms=COMMIT):
    return {"op": "u", "before": {"id": 1, "v": 0}, "after": {"id": 1, "v": lsn}, "ts_ms": read_ms,
            "source": {"table": table, "txId": tx, "lsn": lsn, "ts_ms": commit_ms}, "transaction": None}


def test_the_step_gives_the_commit_time_beside_the_read_time():
    events, dead = Debezium("cdc", {}, None).process([_change("t", 7, 10, COMMIT + 90_000)])
    assert dead == [] and (events[0]["source_ts_ms"], events[0]["ts_ms"]) == (COMMIT, COMMIT + 90_000)
    events, dead = Debezium("cdc", {}, None).process([{**_change("t", 7, 10, 1), "source": {"table": "t"}}])
    assert dead == [] and events[0]["source_ts_ms"] is None  # a source block without it: null


def test_a_commit_time_that_is_no_integer_is_a_dead_letter_saying_so():
    events, dead = Debezium("cdc", {}, None).process([_change("t", 7, 10, 1, commit_ms="yesterday")])
    assert events == [] and "'source.ts_ms' is a str 'yesterday', not an integer" in dead[0].error


@settings(max_examples=200, deadline=None)
@given(st.permutations(range(4)), st.lists(st.integers(0, 120_000), min_size=4, max_size=4))
def test_a_keys_commit_time_does_not_depend_on_the_arrival_order(order, lags):
    decoded, _ = Debezium("cdc", {}, None).process(
        [_change(table, 7, 10 + i, COMMIT + lags[i]) for i, table in enumerate(["a", "b", "c", "d"])])
    events, dead = net_events("m", lambda e: e["table"], lambda e: "k", "7", [decoded[i] for i in order])
    assert dead == [] and [e["source_ts_ms"] for e in events] == [COMMIT]
    assert datetime.fromtimestamp(events[0]["source_ts_ms"] / 1000, timezone.utc).year == 2025
