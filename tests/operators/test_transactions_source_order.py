"""Property: whatever order Debezium's topics are read in, the events ``merge_transactions``
releases, applied in release order, leave every row as applying all changes in LSN order does;
and no change is lost or duplicated (released + dead-lettered = input).

A random history over a few rows: rows that exist before capture starts, an initial snapshot
(``op: r``, ``source.snapshot`` first/true/last, the snapshot's own transaction id or none),
then marked transactions (BEGIN/END on the transaction topic), incremental snapshot chunks
(``op: r``, ``source.snapshot`` incremental, no transaction), changes without a transaction
id and (with markers) transactions that never get markers, each at increasing LSNs. Each table
is one topic in LSN order, the transaction topic is in commit order; the reader interleaves
the three topics at random, in batches of random size, with snapshots of the state between
them."""

import pickle
from collections import Counter
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.merge_transactions import MergeTransactions
from engine.operators.transaction_order import position
from tests.operators.test_transactions_snapshots import apply

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
TABLES = ("transport_order", "note")
ROWS = [(t, i) for t in TABLES for i in (1, 2, 3)]
SNAPSHOT_FLAGS = ("first", "true", "true", "last", "first_in_data_collection", "last_in_data_collection")

row_action = st.tuples(st.sampled_from(ROWS), st.booleans())  # (row, delete it if it exists)
steps = st.lists(st.one_of(
    st.tuples(st.just("tx"), st.lists(row_action, min_size=1, max_size=4)),
    st.tuples(st.just("unmarked"), st.lists(row_action, min_size=1, max_size=3)),
    st.tuples(st.just("loose"), row_action),
    st.tuples(st.just("chunk"), st.lists(st.sampled_from(ROWS), min_size=1, max_size=4, unique=True))),
    max_size=12)
history = st.fixed_dictionaries({
    "existing": st.lists(st.sampled_from(ROWS), unique=True, max_size=6),
    "snapshot_tx": st.sampled_from([None, 99]),
    "steps": steps})


def build(spec, markers):
    """(the three topics: orders, notes, transactions; the final state of every row)."""
    db = {key: {"id": key[1], "v": 0} for key in spec["existing"]}
    lsn, tx_ids, seq = 100, iter(range(1000, 2000)), iter(range(10 ** 6))
    topics = {t: [] for t in TABLES}
    markers_topic = []

    def emit(op, key, before, after, tx, snapshot="false"):
        event = {"op": op, "before": before, "after": after, "table": key[0], "lsn": lsn, "ts_ms": 1,
                 "tx_id": None if tx is None else str(tx),
                 "source": {"table": key[0], "lsn": lsn, "txId": tx, "snapshot": snapshot}, "seq_in": next(seq)}
        topics[key[0]].append(event)
        return event

    def write(key, delete, tx):
        nonlocal lsn
        lsn += 1
        before = db.get(key)
        if before is None:
            db[key] = {"id": key[1], "v": lsn}
            return emit("c", key, None, db[key], tx)
        if delete:
            del db[key]
            return emit("d", key, before, None, tx)
        db[key] = {"id": key[1], "v": lsn}
        return emit("u", key, before, db[key], tx)

    existing = sorted(db)
    for i, key in enumerate(existing):  # the initial snapshot: one LSN, no markers
        flag = "first" if i == 0 else "last" if i == len(existing) - 1 else SNAPSHOT_FLAGS[i % len(SNAPSHOT_FLAGS)]
        emit("r", key, None, dict(db[key]), spec["snapshot_tx"], flag)
    for kind, what in spec["steps"]:
        lsn += 10
        if kind == "chunk":  # an incremental snapshot chunk: the rows as they are now, one LSN
            for key in what:
                if key in db:
                    emit("r", key, None, dict(db[key]), None, "incremental")
        elif kind == "loose":
            write(what[0], what[1], None)
        else:
            tx = next(tx_ids)
            changes = [write(key, delete, tx) for key, delete in what]
            if kind == "tx":
                counts = Counter(c["table"] for c in changes)
                markers_topic.append({"status": "BEGIN", "id": f"{tx}:{lsn}"})
                markers_topic.append({"status": "END", "id": f"{tx}:{lsn}", "event_count": len(changes),
                                      "data_collections": [{"data_collection": f"public.{t}", "event_count": n}
                                                           for t, n in counts.items()]})
    return [topics["transport_order"], topics["note"], markers_topic], db


@PROPERTY
@given(history, st.booleans(), st.lists(st.integers(0, 2), max_size=80), st.lists(st.integers(1, 5), max_size=40),
       st.booleans(), st.booleans())
def test_released_events_applied_in_release_order_equal_the_lsn_order(spec, markers, picks, sizes, snapshot, timers):
    topics, final = build(spec, markers)
    inputs = [e for topic in topics for e in topic]
    arrival = []  # the reader: the topics interleaved, each in its own order
    queues = [list(t) for t in topics]
    for pick in picks + [0] * len(inputs) + [1] * len(inputs) + [2] * len(inputs):
        if queues[pick]:
            arrival.append(queues[pick].pop(0))
    assert len(arrival) == len(inputs)

    merge = MergeTransactions("merge", {"markers": markers, "group": "str(coalesce(after.id, before.id))"}, None)
    merged_in = []
    real = merge.net_changes

    def spy(transaction):
        merged_in.extend(transaction.changes)
        return real(transaction)

    merge.net_changes = spy
    logic, out, dead, now = merge.logic(), [], [], T0
    sizes = sizes or [3]
    i = 0
    while i < len(arrival):
        batch = arrival[i:i + sizes[i % len(sizes)]]
        i += len(batch)
        pairs, no_key = merge.group(batch)
        dead += no_key
        for _, items in pairs:
            emitted, failed = logic.add(items, now)
            out += emitted
            dead += failed
        if timers:  # no idle: a timer releases nothing a transaction does not let go
            now += timedelta(seconds=60)
            emitted, failed = logic.due(now)
            out += emitted
            dead += failed
        if snapshot:
            logic = merge.logic(pickle.loads(pickle.dumps(logic.state())))
    emitted, failed = logic.flush()
    out += emitted
    dead += failed

    assert dead == []
    assert apply({}, out) == final
    changes = [e for e in inputs if "op" in e]
    assert Counter(c["seq_in"] for c in merged_in) == Counter(c["seq_in"] for c in changes)  # each once
    assert logic.s.loose == [] and [t for t in logic.s.open.values() if t.changes] == []
    for event in out:  # every output change carries its source position
        assert all(type(c["seq"]) is int and c["lsn"] is not None for c in event["changes"])


def _highest_numeric_lsn(changes):
    lsns = [c.get("lsn") for c in changes]
    return max((lsn for lsn in lsns if type(lsn) in (int, float) and lsn == lsn), default=None)  # (NaN != NaN)


_LSNS = st.one_of(st.integers(-2, 2**70), st.floats(allow_nan=True), st.none(), st.booleans(), st.text(max_size=2))


@given(st.lists(st.one_of(st.fixed_dictionaries({"lsn": _LSNS}), st.just({})), max_size=5))
def test_the_position_of_changes_is_their_highest_numeric_lsn(changes):
    assert repr(position(changes)) == repr(_highest_numeric_lsn(changes))
