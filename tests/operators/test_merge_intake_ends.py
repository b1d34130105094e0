"""merge_transactions' intake takes the usual END record itself (``transaction_ends.Ends.take``):
on hand-made BEGIN/END records, well-formed and malformed, among changes, the output, dead
letters and state (pickled too) are those of the general path (``_marker``) taking every record."""

import copy
import pickle
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.merge_transactions import MergeTransactions
from engine.operators.transaction_records import MESSAGES

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
TXS = ["1", "2", "3", "4"]


def a_change(tx, table, n):
    return {"op": "u", "before": {"id": n}, "after": {"id": n, "order_id": 1}, "table": table, "tx_id": tx,
            "source": {"snapshot": "false"}, "lsn": n, "ts_ms": 1}


odd = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.just(10 ** 30), st.text(max_size=2),
                st.just([]), st.just({}), st.floats(allow_nan=False))
counts = st.one_of(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.just(-1), st.just(10 ** 30), odd)
names = st.one_of(st.sampled_from(["public.note", "public.transport_order", "public.stop", "other.note", "note",
                                   f"{MESSAGES}$LogicalDecodingMessageId@6cca960e", "public.", ""]),
                  st.sampled_from(["public.note", "public.transport_order"]), odd)
collection = st.one_of(st.fixed_dictionaries({"data_collection": names, "event_count": counts}),
                       st.fixed_dictionaries({}, optional={"data_collection": names, "event_count": counts}), odd)
collections = st.one_of(st.lists(collection, max_size=4), st.lists(collection, max_size=4), odd)
ids = st.one_of(st.sampled_from(TXS).map(lambda tx: f"{tx}:9"), st.sampled_from(TXS).map(lambda tx: f"{tx}:9"),
                st.sampled_from(TXS), st.sampled_from([1, 2, ":9", "", "7:"]), odd)
usual = st.fixed_dictionaries({"data_collection": st.sampled_from(["public.note", "public.transport_order",
                                                                   "public.stop", f"{MESSAGES}$Id@6cca960e"]),
                                "event_count": st.integers(0, 3)})
ends = st.builds(lambda tx, n, cs: {"status": "END", "id": f"{tx}:9", "event_count": n, "data_collections": cs},
                 st.sampled_from(TXS), st.one_of(st.integers(0, 6), st.none()), st.lists(usual, max_size=4))


def spoilt(end, field, value, entry):
    """``end`` with ``field`` (of its first collection when ``entry``) set to ``value``, or gone if None."""
    end = copy.deepcopy(end)
    target = end["data_collections"][0] if entry and end["data_collections"] else end
    target.pop(field, None) if value is None else target.update({field: value})
    return end


unusual = st.builds(spoilt, ends, st.sampled_from(["status", "id", "event_count", "data_collections",
                                                  "data_collection"]), st.one_of(st.none(), odd), st.booleans())
record = st.fixed_dictionaries({"status": st.sampled_from(["END", "END", "END", "BEGIN", "end", None]), "id": ids},
                               optional={"event_count": counts, "data_collections": collections, "ts_ms": st.just(1)})
records = st.one_of(ends, ends, unusual, record, record.map(lambda r: {"schema": {}, "payload": r}))
changes = st.builds(a_change, st.sampled_from(TXS), st.sampled_from(["note", "transport_order", "stop"]),
                    st.integers(0, 9))
batches = st.lists(st.lists(st.one_of(records, records, changes), max_size=10), min_size=1, max_size=4)
configs = st.fixed_dictionaries({}, optional={"markers": st.booleans(), "idle": st.just("5s"),
                                              "tables": st.sampled_from([["note"], ["note", "transport_order"]])})


def shown(released):
    events, deads = released
    return pickle.dumps(events), [(pickle.dumps(d.event), d.step, d.error) for d in deads]


def logics(config):
    merge = MergeTransactions("merge", {"group": "after.order_id", **config}, None)
    fast, general = merge.logic(), merge.logic()
    general._ends.take = lambda s, event, now: False  # every record through _marker
    return merge, fast, general


def same_state(fast, general):
    """Equal, and equal once restored (the bytes may differ: the intake's table names are shared)."""
    assert fast.s == general.s and pickle.loads(pickle.dumps(fast.s)) == general.s


@PROPERTY
@given(configs, batches, st.booleans())
def test_the_usual_end_taken_in_intake_is_the_general_path(config, plan, restore):
    merge, fast, general = logics(config)
    now = T0
    for number, batch in enumerate(plan):
        now += timedelta(seconds=1)
        results = []
        for logic in (fast, general):
            groups, no_key = merge.group_events(copy.deepcopy(batch))
            events = groups[0][1] if groups else []
            results.append((shown(logic.add(events, now)), [d.error for d in no_key]))
        assert results[0] == results[1]
        same_state(fast, general)
        assert fast.next_notification() == general.next_notification()
        if restore and number == 0:  # a snapshot taken now restores into the same behaviour
            take = general._ends.take
            fast, general = (merge.logic(pickle.loads(pickle.dumps(logic.state()))) for logic in (fast, general))
            general._ends.take = take
            fast.resume(now)
            general.resume(now)
    later = now + timedelta(seconds=6)
    assert shown(fast.due(later)) == shown(general.due(later))
    assert shown(fast.flush()) == shown(general.flush())
    same_state(fast, general)


def test_the_usual_end_is_taken_in_intake_and_the_others_by_the_general_path():
    merge, fast, general = logics({"markers": True, "tables": ["note", "transport_order"]})
    taken = []
    take = fast._ends.take
    fast._ends.take = lambda s, event, now: taken.append(event["id"]) or take(s, event, now)
    end = {"status": "END", "id": "1:9", "event_count": 3,
           "data_collections": [{"data_collection": "public.note", "event_count": 1},
                                {"data_collection": "public.stop", "event_count": 1},
                                {"data_collection": "public.note", "event_count": 1}]}
    bad = {**end, "id": "2:9", "event_count": -1}
    batch = [{"status": "BEGIN", "id": "3:1"}, end, bad, a_change("1", "note", 1)]
    for logic in (fast, general):
        groups, _ = merge.group_events(copy.deepcopy(batch))
        out, deads = logic.add(groups[0][1], T0)
        assert out == [] and [d.error for d in deads] == ["END record of transaction 2: event_count is not a "
                                                          "count of events: -1"]
    assert taken == ["1:9", "2:9"]  # (BEGIN, the batch's first record, takes the general path before any test)
    assert fast.s.open["1"].expected == {"note": 2}
    same_state(fast, general)
