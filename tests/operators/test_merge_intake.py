"""merge_transactions' batch intake (``transaction_intake.intake``, runs of one transaction on
one table kept once per run) and its grouping (``group_events``' test for a change) against the
general path, one event at a time, as ``add`` and ``group`` took them before: the same state,
the same output, the same dead letters, on adversarial batches."""

import pickle
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.compact_change import STREAMING
from engine.operators.dead import describe
from engine.operators.merge_transactions import MergeTransactions
from engine.operators.transaction_order import Loose
from engine.operators.transaction_records import entry
from engine.operators.transaction_state import Transaction
from engine.records import DeadLetter

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.builds(lambda: 10 ** 5000), st.text(max_size=3),
                    st.floats(allow_nan=True))
junk = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=3), scalars, max_size=2))


def mostly(good, bad=junk):
    return st.integers(0, 5).flatmap(lambda pick: bad if pick == 0 else good)


row = st.fixed_dictionaries({"id": st.integers(0, 3)}, optional={"order_id": mostly(st.integers(0, 2)), "é": scalars})
SNAPSHOT = ["false", "true", "last", None, False, "incremental", 0, []]
source = st.one_of(st.fixed_dictionaries({}, optional={"snapshot": st.sampled_from(SNAPSHOT)}), st.none(), st.just("x"))
FIELDS = ("op", "before", "after", "table", "tx_id", "source", "lsn", "ts_ms")


def a_change(op, before, after, table, tx, src, lsn, gone):
    event = {"op": op, "before": before, "after": after, "table": table, "tx_id": tx, "source": src, "lsn": lsn,
             "ts_ms": 1}
    for name in gone:  # a field missing: the general path's .get
        event.pop(name, None)
    return event


changes = st.builds(a_change, mostly(st.sampled_from(["c", "u", "d", "u", "r", "t"])),
                    mostly(st.one_of(st.none(), row)), mostly(st.one_of(st.none(), row)),
                    mostly(st.sampled_from(["note", "transport_order", "note"])),
                    mostly(st.one_of(st.sampled_from(["1", "2", "3"]), st.integers(1, 3)),
                           st.sampled_from([None, 2.5])),
                    mostly(source, st.just({"snapshot": "true"})), st.integers(0, 99),
                    st.one_of(st.just(()), st.just(()), st.lists(st.sampled_from(FIELDS), max_size=2)))
# runs: the same change (one transaction, one table) several times in a row, as a table's topic has them
runs = st.tuples(changes, st.integers(1, 4)).map(lambda pair: [dict(pair[0]) for _ in range(pair[1])])
collection = st.fixed_dictionaries({"data_collection": st.sampled_from(["public.note", "public.transport_order"]),
                                    "event_count": mostly(st.integers(0, 4))})
ends = st.builds(lambda tx, n, cs: {"status": "END", "id": f"{tx}:9", "event_count": n, "data_collections": cs},
                 st.integers(1, 3), mostly(st.integers(0, 6)), st.one_of(st.none(), st.lists(collection, max_size=2)))
others = st.one_of(ends, ends.map(lambda e: {"schema": {}, "payload": e}),
                   st.builds(lambda tx: {"status": "BEGIN", "id": f"{tx}:0"}, st.integers(1, 3)),
                   scalars, junk, st.just({"op": "c", "payload": 1}), st.just({"payload": {"op": "c"}, "schema": 1}))
batches = st.lists(st.lists(st.one_of(runs, runs, others.map(lambda e: [e])), max_size=8)
                   .map(lambda parts: [e for part in parts for e in part]), min_size=1, max_size=6)
configs = st.fixed_dictionaries({}, optional={"markers": st.booleans(), "tables": st.just(["note"]),
                                              "idle": st.just("5s")})


def reference_change(s, markers, event, now, seen):
    """``TransactionMerger._change`` as it was before the batch intake (bdd0d06)."""
    table, before, after, tx, op, source = (event.get("table"), event.get("before"), event.get("after"),
                                            event.get("tx_id"), event.get("op"), event.get("source"))
    if type(table) is not str or (before is not None and type(before) is not dict) \
            or (after is not None and type(after) is not dict):
        return "unmergeable"
    tx_id = None if tx is None else str(tx)
    s.arrivals = arrival = s.arrivals + 1
    snapshot = op == "r" or (type(source) is dict and source.get("snapshot") not in STREAMING)
    if tx_id is None or snapshot or tx_id in s.unmarked:
        s.loose.append(Loose(tx_id, [event], snapshot, arrival, now))
        return None
    transaction = s.open.get(tx_id)
    if transaction is None:
        transaction = s.open[tx_id] = Transaction(tx_id, begun=tx_id in s.begun, created=arrival)
        if markers and not transaction.begun:
            s.unended[tx_id] = None
        s.begun.pop(tx_id, None)
    transaction.changes.append(event)  # (the same writes as then, in another order: each is independent)
    seen.append(tx_id)
    s.latest_by_table[table] = transaction.id
    transaction.last_seen, transaction.last_arrival[table] = now, arrival
    if table not in transaction.first_arrival and tx_id in s.unended:
        s.unended_tables.setdefault(table, {})[tx_id] = None
    transaction.first_arrival.setdefault(table, arrival)
    transaction.per_table[table] = 1 + transaction.per_table.get(table, 0)
    return None


def reference_add(logic, events, now):
    """``add`` as it was: every event through the previous code, one at a time."""
    deads, seen = [], []
    for event in events:
        try:
            if "op" not in event and event.get("status") in ("BEGIN", "END") and "id" in event:
                problem = logic._marker(event, now)
            else:
                problem = reference_change(logic.s, logic.step.markers, event, now, seen)
                if problem == "unmergeable":
                    problem = logic._other(event, now, [])  # the reason, from the general path (it changes nothing)
        except Exception as exc:  # noqa: BLE001
            problem = describe(exc)
        if problem is not None:
            deads.append(DeadLetter(event, logic.step.step_id, problem))
    logic._timer.seen_all(now, seen)
    results, failed = logic._release(logic._ready(), complete=True)
    return results, deads + failed


def shown(released):
    events, deads = released
    return pickle.dumps(events), [(pickle.dumps(d.event), d.step, d.error) for d in deads]  # (copies once restored)


@PROPERTY
@given(configs, batches, st.booleans())
def test_the_batch_intake_is_the_general_path_event_by_event(config, plan, restore):
    merge = MergeTransactions("merge", {"group": "coalesce(after.order_id, before.order_id)", **config}, None)
    fast, slow = merge.logic(), merge.logic()
    now = T0
    for number, batch in enumerate(plan):
        now += timedelta(seconds=number % 3)
        groups, no_key = merge.group_events(batch)
        assert [(k, [e for _, e in pairs]) for k, pairs in merge.group(batch)[0]] == groups
        entries = [entry(event, merge.step_id) for event in batch]  # group as it was: each event alone
        assert [e for e, dead in entries if dead is None] == [e for _, events in groups for e in events]
        assert [(id(d.event), d.error) for _, d in entries if d is not None] == [(id(d.event), d.error) for d in no_key]
        events = [e for _, group in groups for e in group]
        assert shown(fast.add(groups[0][1] if groups else [], now)) == shown(reference_add(slow, events, now))
        assert fast.s == slow.s
        assert fast.next_notification() == slow.next_notification()
        if restore and number == 1:  # a snapshot taken now restores into the same behaviour
            fast = merge.logic(pickle.loads(pickle.dumps(fast.state())))
            slow = merge.logic(pickle.loads(pickle.dumps(slow.state())))
            fast.resume(now)
            slow.resume(now)
    later = now + timedelta(seconds=6)
    assert shown(fast.due(later)) == shown(slow.due(later))
    assert shown(fast.flush()) == shown(slow.flush())
    assert fast.s == slow.s


def test_a_transaction_proven_to_have_no_markers_takes_its_later_changes_in_source_order():
    merge = MergeTransactions("merge", {"markers": True, "group": "after.order_id"}, None)
    fast, slow = merge.logic(), merge.logic()

    def change(tx, lsn, row_id=1):
        return {"op": "u", "before": {"id": row_id}, "after": {"id": row_id, "order_id": lsn}, "table": "note",
                "tx_id": tx, "source": {}, "lsn": lsn, "ts_ms": 1}

    plan = [[change("1", 1), change("1", 2)],
            [{"status": "END", "id": "2:9", "event_count": 1, "data_collections": None}, change("2", 3, 2)],
            [change("1", 4), change("1", 5)]]
    for batch in plan:
        assert shown(fast.add([("*", e) for e in batch], T0)) == shown(reference_add(slow, batch, T0))
        assert fast.s == slow.s
    assert "1" in fast.s.unmarked and [u.changes[0]["lsn"] for u in fast.s.loose] == [4, 5]  # loose, not open
    assert shown(fast.flush()) == shown(slow.flush())


def test_a_run_counts_once_per_change_and_marks_the_first_and_last_arrival():
    merge = MergeTransactions("merge", {"markers": True}, None)
    logic = merge.logic()
    change = {"op": "u", "before": {"id": 1}, "after": {"id": 1, "v": 2}, "table": "note", "tx_id": "7",
              "source": {}, "lsn": 1, "ts_ms": 1}
    other = {**change, "table": "transport_order"}
    logic.add([("*", change), ("*", dict(change)), ("*", other), ("*", dict(change))], T0)
    transaction = logic.s.open["7"]
    assert transaction.per_table == {"note": 3, "transport_order": 1}
    assert (transaction.first_arrival, transaction.last_arrival) == ({"note": 1, "transport_order": 3},
                                                                      {"note": 4, "transport_order": 3})
    assert logic.s.arrivals == 4 and logic.s.latest_by_table == {"note": "7", "transport_order": "7"}
    assert logic.s.unended == {"7": None} and logic.s.unended_tables == {"note": {"7": None},
                                                                         "transport_order": {"7": None}}


RELEASED = ("row: ", "net change: ", "group: ", "key ")  # transaction_net's dead letters, made at release
NAN = object()


def plain_data(value, drop=()):
    """``value`` as lists, dicts and scalars, NaN as one marker (no NaN equals another; pickled
    bytes depend on which objects are shared), without the dict keys in ``drop``; a dead letter
    without its time."""
    if type(value) is dict:
        return {k: plain_data(v, drop) for k, v in value.items() if k not in drop}
    if type(value) is DeadLetter:  # (not its time)
        return ["dead letter", plain_data(value.event, drop), value.step, value.error]
    if isinstance(value, (list, tuple)):
        return [plain_data(v, drop) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return plain_data(vars(value), drop)
    return NAN if value != value else value


BLOCKS = ("source", "transaction")


@PROPERTY
@given(configs, batches)
def test_owned_events_slim_only_buffered_changes_and_change_no_result(config, plan):
    """``group_events_owned`` (the compiler's call when no one else holds the events): the same
    results and state as ``group_events`` but for the blocks a change the usual path buffers
    drops; whatever is dead-lettered on arrival or released in source order (snapshot reads)
    keeps them."""
    merge = MergeTransactions("merge", {"group": "coalesce(after.order_id, before.order_id)", **config}, None)
    owned, plain = merge.logic(), merge.logic()
    now = T0
    for number, batch in enumerate(plan):
        now += timedelta(seconds=number % 3)
        mine = pickle.loads(pickle.dumps(batch))  # (the owned path may change its events)
        groups, no_key = merge.group_events_owned(mine)
        theirs, their_no_key = merge.group_events(batch)
        assert plain_data(groups) == plain_data(theirs) and plain_data(no_key) == plain_data(their_no_key)
        events, deads = owned.add(groups[0][1] if groups else [], now)
        their_events, their_deads = plain.add(theirs[0][1] if theirs else [], now)
        assert plain_data(events) == plain_data(their_events)
        assert plain_data(deads, BLOCKS) == plain_data(their_deads, BLOCKS)
        for dead, theirs_dead in zip(deads, their_deads):  # refused on arrival: as it came
            if not dead.error.startswith(RELEASED):
                assert plain_data(dead) == plain_data(theirs_dead)
        held = [c for t in owned.s.open.values() for c in t.changes]
        assert not any("source" in c or "transaction" in c for c in held)
        assert plain_data(owned.s, BLOCKS) == plain_data(plain.s, BLOCKS)
        assert plain_data(owned.s.loose) == plain_data(plain.s.loose)  # released in source order: whole
    assert plain_data(owned.flush()[0]) == plain_data(plain.flush()[0])
