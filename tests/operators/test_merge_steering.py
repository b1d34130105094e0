"""What merge_transactions (markers) asks its sources for while it holds many transactions
(engine/operators/transaction_steer.py, engine/steering.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import run_context, steering
from tests.operators.test_transactions_snapshots import NOW, change, end, feed, merger, row


@pytest.fixture(autouse=True)
def _run(monkeypatch):
    monkeypatch.setattr(steering, "PRESSURE", 3)  # a want from the fourth open transaction on
    run_context.begin(None)
    yield
    run_context.end()


def _wants() -> dict:
    return dict(steering.current()._wants)


def _changes(tx: int, tables=("note", "leg")) -> list:
    return [change("u", table, tx, row(tx, 0), row(tx, 1), tx=tx, lsn=tx) for table in tables]


def test_ends_ahead_of_their_changes_ask_for_the_tables_the_oldest_lacks():
    merge, logic = merger(markers=True, tables=["note", "leg"])
    feed(merge, logic, [end(tx, _changes(tx)) for tx in range(10, 15)])
    assert list(_wants().values()) == [(frozenset({"note", "leg"}), frozenset({"note", "leg"}))]
    feed(merge, logic, _changes(10, ("note",)))
    assert list(_wants().values()) == [(frozenset({"leg"}), frozenset({"note", "leg"}))]
    out = feed(merge, logic, _changes(10, ("leg",)) + _changes(11))
    assert [e["tx_id"] for e in out] == ["10", "11"] and len(logic.s.open) == 3
    assert _wants() == {}  # under the pressure again: nothing asked


def test_changes_ahead_of_their_ends_ask_for_end_records():
    merge, logic = merger(markers=True)  # no tables: the ones seen so far are the step's
    feed(merge, logic, [c for tx in range(10, 15) for c in _changes(tx)])
    assert list(_wants().values()) == [(steering.MARKERS, frozenset({"note", "leg"}))]
    assert steering.current().wanted("transaction") and not steering.current().wanted("note")


def test_an_oldest_transaction_whose_data_does_not_come_stops_asking():
    """A change of 10 never comes (dead-lettered upstream, say): after STALL the merge no
    longer holds its sources to that table; a transaction released asks again."""
    merge, logic = merger(markers=True, tables=["note", "leg"])
    feed(merge, logic, [end(tx, _changes(tx)) for tx in range(10, 16)])
    feed(merge, logic, _changes(10, ("note",)), now=NOW + timedelta(milliseconds=500))
    assert _wants()  # 0.5 s on the same oldest transaction
    feed(merge, logic, _changes(11, ("note",)), now=NOW + steering.STALL + timedelta(milliseconds=1))
    assert _wants() == {}
    feed(merge, logic, _changes(10, ("leg",)), now=NOW + timedelta(seconds=2))
    assert list(_wants().values()) == [(frozenset({"leg"}), frozenset({"note", "leg"}))]  # 11 lacks leg


def test_an_end_that_names_no_table_asks_for_nothing():
    merge, logic = merger(markers=True)
    ends = [{"status": "END", "id": f"{tx}:0", "event_count": 2, "data_collections": None} for tx in range(10, 15)]
    feed(merge, logic, ends)
    assert len(logic.s.open) == 5 and _wants() == {}


def test_the_end_of_the_input_withdraws_the_want():
    merge, logic = merger(markers=True, tables=["note", "leg"])
    feed(merge, logic, [end(tx, _changes(tx)) for tx in range(10, 15)])
    assert _wants()
    logic.flush()
    assert _wants() == {}


def test_without_markers_nothing_is_asked():
    merge, logic = merger()  # a transaction completes when a later one has come on its tables
    feed(merge, logic, [c for tx in range(10, 15) for c in _changes(tx, (f"table{tx}",))])
    assert len(logic.s.open) == 5 and _wants() == {}


def test_a_logic_rebuilt_from_its_state_replaces_the_want_of_the_one_before():
    """The keyed boundary rolls a failed call back by building the logic again from a checkpoint:
    the step still has one want, the new logic's."""
    merge, logic = merger(markers=True, tables=["note", "leg"])
    feed(merge, logic, [end(tx, _changes(tx)) for tx in range(10, 15)])
    rebuilt = merge.logic(logic.state())
    feed(merge, rebuilt, _changes(10, ("note",)))
    assert list(_wants().values()) == [(frozenset({"leg"}), frozenset({"note", "leg"}))]


def test_end_records_that_keep_releasing_transactions_keep_being_asked_for():
    """Waiting for END records there is no oldest ended transaction to watch: what was released
    says the merge moves, so the want outlives STALL while ENDs come."""
    merge, logic = merger(markers=True, tables=["note", "leg"])
    txs = {tx: _changes(tx) for tx in range(10, 20)}
    feed(merge, logic, [c for changes in txs.values() for c in changes])
    for step, tx in enumerate((10, 11, 12), start=1):
        out = feed(merge, logic, [end(tx, txs[tx])], now=NOW + step * timedelta(milliseconds=700))
        assert [e["tx_id"] for e in out] == [str(tx)]
        assert list(_wants().values()) == [(steering.MARKERS, frozenset({"note", "leg"}))]
