"""Property tests of keyed operators fed malformed events: no exception escapes, and every
input event is emitted (as the operator's logic says) or dead-lettered, never both, never
lost."""

import pickle
from collections import Counter
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.operators.aggregate import Aggregate
from engine.operators.map import key_text
from engine.operators.micro_batch import MicroBatch
from engine.operators.with_previous import WithPrevious
from engine.operators.merge_transactions import MergeTransactions, net_change

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10 ** 6), st.just(10 ** 5000), st.text(max_size=4),
                    st.floats(allow_nan=True), st.datetimes(timezones=st.just(timezone.utc)))
junk = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=3), scalars, max_size=2))


def mostly(good, bad=junk):
    """``good`` three times in four: poison among mostly sound events reaches every stage."""
    return st.integers(0, 3).flatmap(lambda pick: bad if pick == 0 else good)


# -- merge_transactions ----------------------------------------------------------------------
row = st.fixed_dictionaries({"id": st.integers(0, 3)}, optional={"order_id": mostly(st.integers(0, 2))})
changes = st.fixed_dictionaries({
    "op": mostly(st.sampled_from(["c", "u", "d", "r", "t"])),
    "before": mostly(st.one_of(st.none(), row)), "after": mostly(st.one_of(st.none(), row)),
    "table": mostly(st.sampled_from(["note", "transport_order"])),
    "tx_id": mostly(st.one_of(st.integers(1, 4), st.sampled_from(["1", "2"]))),
    "lsn": mostly(st.integers(0, 99)), "ts_ms": scalars})

collection = st.fixed_dictionaries({"data_collection": st.sampled_from(["public.note", "public.transport_order", "x.trip"]),
                                    "event_count": st.integers(0, 3)})
good_end = st.builds(lambda tx, n, cs: {"status": "END", "id": f"{tx}:{n}", "event_count": n, "data_collections": cs},
                     st.integers(1, 4), st.integers(0, 4), st.one_of(st.none(), st.lists(collection, max_size=3)))
BAD_FIELDS = {"event_count": ["x", -1, True, 2.5, [1]],
              "data_collections": ["abc", [5], [None], [{"data_collection": 5, "event_count": 1}],
                                   [{"data_collection": "public.note", "event_count": -1}], {"a": 1}],
              "id": [None, "", ":1", {"a": 1}, [1], 2.5]}
bad_end = st.one_of(*[st.builds(lambda end, value, field=field: {**end, field: value}, good_end, st.sampled_from(values))
                      for field, values in BAD_FIELDS.items()])


def wrapped(record):
    return {"schema": {"type": "struct"}, "payload": record}


# each input with what it must become: "change" (merged or dead-lettered), "good" (taken), "bad" (dead-lettered)
inputs = mostly(changes.map(lambda e: (e, "change")), st.one_of(
    good_end.map(lambda e: (e, "good")), good_end.map(lambda e: (wrapped(e), "good")),
    st.builds(lambda tx: ({"status": "BEGIN", "id": f"{tx}:0"}, "good"), st.integers(1, 4)),
    bad_end.map(lambda e: (e, "bad")), bad_end.map(lambda e: (wrapped(e), "bad")),
    st.one_of(scalars, st.lists(scalars, max_size=2), junk.map(wrapped)).map(lambda e: (e, "bad"))))
steps = st.lists(st.one_of(st.lists(inputs, min_size=1, max_size=10), st.integers(1, 8)), max_size=10)
merge_configs = st.fixed_dictionaries({}, optional={
    "markers": st.booleans(), "tables": st.just(["note"]), "idle": st.just("5s"),
    "group": st.sampled_from(["after.order_id", "coalesce(after.order_id, before.order_id)", "int(after.order_id)"])})


@PROPERTY
@given(merge_configs, steps, st.booleans())
@example(  # a row moved to another key (its group column changed): one net change in two events
    {"tables": ["note"], "idle": "5s", "markers": False, "group": "coalesce(after.order_id, before.order_id)"},
    [[({"status": "END", "id": "1:0", "event_count": 0, "data_collections": None}, "good"),
      ({"op": "u", "before": {"id": 0, "order_id": 0}, "after": {"id": 0, "order_id": 1}, "table": "note",
        "tx_id": None, "lsn": None, "ts_ms": None}, "change")]], False)
def test_merge_transactions_never_raises_and_accounts_for_every_event(config, plan, snapshot):
    merge = MergeTransactions("merge", config, None)
    released = []  # (the transaction's changes, its output events, its dead letters), seen by net_changes
    real = merge.net_changes

    def spy(transaction):
        events, deads = real(transaction)
        released.append((list(transaction.changes), events, deads))
        return events, deads

    merge.net_changes = spy
    logic, now, fed, dead = merge.logic(), T0, [], []
    for step in plan:
        if isinstance(step, int):  # time passes; the idle timer may fire
            now += timedelta(seconds=step)
            dead += logic.due(now)[1]
            continue
        for event, kind in step:
            if kind == "change":  # identity that survives a snapshot
                event["seq"] = len(fed)
            fed.append((event, kind))
        pairs, no_key = merge.group([event for event, _ in step])
        dead += no_key
        for _, items in pairs:
            dead += logic.add(items, now)[1]
        if snapshot:  # the state survives a snapshot, whatever it holds
            logic = merge.logic(pickle.loads(pickle.dumps(logic.state())))
    dead += logic.flush()[1]

    assert [t for t in logic.s.open.values() if t.changes] == []  # nothing held back at the end
    in_release = Counter(identity(d.event) for _, _, deads in released for d in deads)
    returned = Counter(identity(d.event) for d in dead)
    assert not in_release - returned  # what a release dead-letters is passed on (add, due and flush)
    on_arrival = returned - in_release
    taken = Counter(identity(c) for changes_in, _, _ in released for c in changes_in)
    positions = {(str(c.get("tx_id")), c["lsn"]) for changes_in, _, _ in released for c in changes_in
                 if type(c.get("lsn")) is int}
    times_fed = Counter(id(event) for event, _ in fed)
    for event, kind in fed:
        ids = [identity(event)]
        if isinstance(event, dict) and isinstance(event.get("payload"), dict):
            ids.append(id(event["payload"]))  # a metadata record dead-lettered after unwrapping
        if kind == "bad":
            assert sum(on_arrival[i] for i in ids) == times_fed[id(event)], event
        elif kind == "good":
            assert sum(on_arrival[i] for i in ids) == 0, event
        elif taken[identity(event)] + on_arrival[identity(event)] != 1:  # a change: taken once or dead-lettered,
            # or Debezium's redelivery of one taken already (the same transaction and position:
            # transaction_intake._redelivered), which is in its event
            assert taken[identity(event)] + on_arrival[identity(event)] == 0, event
            assert type(event["lsn"]) is int and (str(event["tx_id"]), event["lsn"]) in positions, event
    for changes_in, events, deads in released:  # each change merged into an output, cancelled out, or dead
        # (a row moved to another key is in the events of both keys: its net change counted once, by seq)
        merged = sum(c["merged"] for c in {c["seq"]: c for e in events for c in e["changes"]}.values())
        assert merged + len(deads) + cancelled(merge, changes_in, deads) == len(changes_in)


def identity(event):
    return ("seq", event["seq"]) if isinstance(event, dict) and "seq" in event else id(event)


def cancelled(merge, changes_in, deads):
    """Changes of rows whose net effect is nothing (and that were not dead-lettered)."""
    gone = {identity(d.event) for d in deads}
    rows = {}
    for change in changes_in:
        if identity(change) not in gone:
            rows.setdefault(key_text(merge.row(change)), []).append(change)
    return sum(len(rows_changes) for rows_changes in rows.values() if net_change(rows_changes) is None)


# -- group() of micro_batch, with_previous and aggregate ---------------------------------------
keyed_inputs = st.lists(st.one_of(st.fixed_dictionaries({}, optional={"domain": junk, "key": junk, "_key": junk}),
                                  scalars), max_size=12)
STEPS = [lambda: MicroBatch("mb", {"chunks": 3, "key": "domain + ':' + key"}, None),
         lambda: MicroBatch("mb", {"chunks": 2}, None),
         lambda: WithPrevious("prev", {"key": "key"}, None),
         lambda: Aggregate("agg", {"key": "domain", "compute": {"n": "count()"}}, None)]


@PROPERTY
@given(st.sampled_from(range(len(STEPS))), keyed_inputs)
def test_group_puts_every_event_in_exactly_one_place(step, batch):
    pairs, deads = STEPS[step]().group(batch)
    placed = [id(event) for _, items in pairs for _, event in items] + [id(d.event) for d in deads]
    assert sorted(placed) == sorted(id(event) for event in batch)
    assert all(d.error for d in deads)


# -- aggregate: each event counted in its one window, or dead-lettered ----------------------------
times = st.one_of(st.datetimes(timezones=st.just(timezone.utc)), st.datetimes(), scalars,
                  st.sampled_from([datetime.max.replace(tzinfo=timezone.utc), datetime.min.replace(tzinfo=timezone.utc),
                                   datetime(9999, 12, 31, 23, 30, tzinfo=timezone.utc)]))
agg_events = st.fixed_dictionaries({"k": st.sampled_from(["a", "b", None, 1]), "t": times, "x": scalars})
WINDOWS = [{}, {"window": {"tumbling": "1h", "event_time": "t"}}, {"window": {"session": {"gap": "1d"}, "event_time": "t"}},
           {"window": {"tumbling": "10s", "event_time": "t", "allowed_lateness": "1h"}}, {"window": {"count": 2}},
           {"window": {"tumbling": "1h", "time": "processing"}}]


@PROPERTY
@given(st.sampled_from(range(len(WINDOWS))), st.lists(st.lists(agg_events, min_size=1, max_size=5), max_size=5),
       st.integers(0, 10 ** 6))
def test_aggregate_counts_each_event_once_or_dead_letters_it(window, batches, seconds):
    config = {"key": "k", "compute": {"n": "count()", "s": "sum(x)"}, "emit": "final", **WINDOWS[window]}
    if "window" in config:
        del config["emit"]
    agg = Aggregate("agg", config, None)
    logics, results, dead, now = {}, [], [], T0
    for batch in batches:
        pairs, no_key = agg.group(batch)
        dead += no_key
        for key, items in pairs:
            out, failed = logics.setdefault(key, agg.logic()).add(items, now)
            results += out
            dead += failed
        now += timedelta(seconds=seconds)
        for logic in logics.values():
            logic.next_notification()
            out, failed = logic.due(now)
            results += out
            dead += failed
    for logic in logics.values():
        out, failed = logic.flush()
        results += out
        dead += failed
    assert sum(r["n"] for r in results) + len(dead) == sum(len(b) for b in batches)
