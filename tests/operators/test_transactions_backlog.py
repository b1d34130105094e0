"""merge_transactions on a backlog: what it looks at per release stays small, and the state it
keeps to find marker-less transactions (``MergeState.unended_tables``) follows its changes and
survives a snapshot taken before it existed."""

import pickle

from hypothesis import given
from hypothesis import strategies as st

import engine.operators.merge_transactions as module
from engine.operators.transaction_state import MergeState, forget_ended
from tests.operators.test_transactions_snapshots import NOW, begin, change, end, feed, merger, row


def _counting(monkeypatch):
    calls = []
    real = module.unended
    monkeypatch.setattr(module, "unended", lambda t: calls.append(1) or real(t))
    return calls


def test_changes_ahead_of_their_ends_are_not_all_looked_at_for_every_release(monkeypatch):
    """300 transactions whose changes came before their END (a table topic read ahead of the
    transaction topic): each release looks only at the candidates whose change on the table came
    before its own, not at every open one (before: 300 * 300 / 2 looks)."""
    merge, logic = merger(markers=True)
    txs = {n: [change("u", "note", n, row(n, 0), row(n, 1), tx=n, lsn=n)] for n in range(1000, 1300)}
    feed(merge, logic, [c for changes in txs.values() for c in changes])
    assert len(logic.s.unended) == 300 and list(logic.s.unended_tables["note"]) == [str(n) for n in txs]
    calls = _counting(monkeypatch)
    out = feed(merge, logic, [end(n, c) for n, c in txs.items()])
    assert [e["tx_id"] for e in out] == [str(n) for n in txs]
    assert logic.s.open == {} and logic.s.unended == {} and logic.s.unended_tables == {}
    assert len(calls) < 3 * len(txs)


def test_a_transaction_without_markers_is_proven_by_a_later_one_on_any_of_its_tables():
    """800 (no BEGIN or END) changed note and leg before 801 changed leg: 801's END proves it."""
    merge, logic = merger(markers=True)
    unmarked = [change("u", "note", 1, row(1, 0), row(1, 1), tx=800, lsn=50),
                change("u", "leg", 2, row(2, 0), row(2, 1), tx=800, lsn=51)]
    feed(merge, logic, unmarked)
    assert {t: list(txs) for t, txs in logic.s.unended_tables.items()} == {"note": ["800"], "leg": ["800"]}
    marked = [change("u", "leg", 3, row(3, 0), row(3, 1), tx=801, lsn=60)]
    out = feed(merge, logic, [begin(801)] + marked + [end(801, marked)])
    assert [e["tx_id"] for e in out] == ["800", "800", "801"]  # 800: one event per order
    assert logic.s.unended == {} and logic.s.unended_tables == {} and "800" in logic.s.unmarked


def test_an_end_that_comes_after_all_takes_the_transaction_out_of_the_candidates():
    merge, logic = merger(markers=True)
    changes = [change("u", "note", 1, row(1, 0), row(1, 1), tx=800, lsn=50)]
    feed(merge, logic, changes)
    assert logic.s.unended_tables == {"note": {"800": None}}
    assert [e["tx_id"] for e in feed(merge, logic, [end(800, changes)])] == ["800"]
    assert logic.s.unended == {} and logic.s.unended_tables == {}


def test_a_snapshot_from_before_the_per_table_index_still_finds_the_transactions_without_markers():
    merge, logic = merger(markers=True)
    feed(merge, logic, [change("u", "note", 1, row(1, 0), row(1, 1), tx=800, lsn=50),
                        change("u", "note", 2, row(2, 0), row(2, 1), tx=802, lsn=52), begin(799)])
    old = pickle.loads(pickle.dumps(logic.state()))
    del old.unended_tables  # as pickled by the version before it
    restored = merge.logic(old)
    assert restored.s.unended_tables == {"note": {"800": None, "802": None}}
    marked = [change("u", "note", 3, row(3, 1), row(3, 2), tx=801, lsn=60)]
    out = feed(merge, restored, [begin(801)] + marked + [end(801, marked)])
    assert [e["tx_id"] for e in out] == ["800", "802", "801"]  # both changed note before 801 did
    assert restored.s.unended == {} and restored.s.unended_tables == {}


def test_an_end_that_comes_twice_is_in_the_commit_order_once_at_its_first_place():
    merge, logic = merger(markers=True)
    txs = {n: [change("u", "note", n, row(n, 0), row(n, 1), tx=n, lsn=n)] for n in (1, 2)}
    bad_second = {**end(2, txs[2]), "event_count": "x"}  # an unreadable END: dead-lettered, its place kept
    (_, items), = merge.group([end(1, txs[1]), end(2, txs[2]), end(1, txs[1]), bad_second])[0]
    assert [d.event for d in logic.add(items, NOW)[1]] == [bad_second]
    assert logic.s.ended == ["1", "2"]
    assert [e["tx_id"] for e in feed(merge, logic, txs[2] + txs[1])] == ["1", "2"] and logic.s.ended == []


def test_a_snapshot_holding_an_end_twice_is_read_with_it_once():
    merge, logic = merger(markers=True)
    changes = [change("u", "note", 1, row(1, 0), row(1, 1), tx=800, lsn=50)]
    feed(merge, logic, [end(800, changes)])
    old = pickle.loads(pickle.dumps(logic.state()))
    old.ended = ["800", "800"]  # as the version before could have pickled it
    restored = merge.logic(old)
    assert restored.s.ended == ["800"]
    assert [e["tx_id"] for e in feed(merge, restored, changes)] == ["800"] and restored.s.ended == []


@given(st.lists(st.integers(0, 30), unique=True), st.sets(st.integers(0, 40)), st.sets(st.integers(0, 30)))
def test_forgetting_released_ids_leaves_what_the_merge_would_still_walk(ended, released, gone):
    """What ``_ready`` and steering walk afterwards (the ids whose transaction is open, in order)
    is what filtering the released ids out gives; only leading ids of gone transactions go too."""
    ids = [str(n) for n in ended]
    out = {str(n) for n in released}
    state = MergeState(open={i: module.Transaction(i) for i in ids if int(i) not in gone and i not in out},
                       ended=list(ids))
    forget_ended(state, out)
    filtered = [i for i in ids if i not in out]
    assert [i for i in state.ended if i in state.open] == [i for i in filtered if i in state.open]
    assert state.ended == filtered[len(filtered) - len(state.ended):]  # a suffix: only leading ids dropped
    assert not state.ended or state.ended[0] in state.open


_MAYBE_CHANGE = st.one_of(
    st.fixed_dictionaries({"op": st.sampled_from(["c", "u"]), "table": st.just("note"), "tx_id": st.sampled_from(["1", "2"]),
                           "before": st.none(), "after": st.just({"id": 1, "order_id": 1})}),
    st.just({"status": "END", "id": "1:0", "event_count": 0, "data_collections": []}),
    st.just({"payload": {"op": "c"}, "op": "c"}), st.just({"schema": {}, "payload": None}), st.just([1]), st.none())


@given(st.lists(_MAYBE_CHANGE, max_size=6))
def test_a_batch_of_changes_is_grouped_as_the_loop_over_its_events_groups_it(batch):
    merge, _ = merger(markers=True)
    fast = merge.group_events(batch)
    original = module.all_changes
    try:
        module.all_changes = lambda _batch: False  # the loop alone
        slow = merge.group_events(batch)
    finally:
        module.all_changes = original
    assert [(k, list(e), e.key) for k, e in fast[0]] == [(k, list(e), e.key) for k, e in slow[0]]
    assert [(d.event, d.error) for d in fast[1]] == [(d.event, d.error) for d in slow[1]]
    assert module.all_changes(batch) == (bool(batch) and all(type(e) is dict and "op" in e and "payload" not in e
                                                              for e in batch))
