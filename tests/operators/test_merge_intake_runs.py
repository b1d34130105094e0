"""``transaction_intake.intake``'s runs: a change that goes on the run before it (same
transaction, same table) is taken as the change that opens a run is (its Debezium blocks, source
and transaction, dropped when owned; counted; buffered), and changes not owned keep both."""

from datetime import datetime, timezone

from engine.operators.merge_transactions import MergeTransactions

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)


def a_change(tx: str, table: str, lsn: int) -> dict:
    return {"op": "u", "before": {"id": lsn}, "after": {"id": lsn, "v": 1}, "table": table, "tx_id": tx,
            "source": {"snapshot": "false", "txId": int(tx)}, "transaction": {"id": f"{tx}:{lsn}"},
            "lsn": lsn, "ts_ms": 1}


def test_owned_changes_of_a_run_drop_both_blocks_wherever_they_are_in_the_run():
    merge = MergeTransactions("merge", {"markers": True}, None)
    batch = [a_change("7", "note", 1), a_change("7", "note", 2), a_change("7", "note", 3),
             a_change("7", "transport_order", 4), a_change("7", "transport_order", 5), a_change("8", "note", 6)]
    groups, deads = merge.group_events_owned(batch)
    logic = merge.logic()
    assert logic.add(groups[0][1], T0) == ([], []) and deads == []
    held = logic.s.open["7"].changes + logic.s.open["8"].changes
    assert [c["lsn"] for c in held] == [1, 2, 3, 4, 5, 6]
    assert [sorted(c) for c in held] == [["after", "before", "lsn", "op", "table", "ts_ms", "tx_id"]] * 6
    assert logic.s.open["7"].per_table == {"note": 3, "transport_order": 2} and logic.s.arrivals == 6
    assert logic.s.open["7"].last_arrival == {"note": 3, "transport_order": 5}


def test_not_owned_changes_of_a_run_keep_their_blocks():
    merge = MergeTransactions("merge", {"markers": True}, None)
    batch = [a_change("7", "note", 1), a_change("7", "note", 2)]
    groups, _ = merge.group_events(batch)
    logic = merge.logic()
    logic.add(groups[0][1], T0)
    assert [("source" in c, "transaction" in c) for c in logic.s.open["7"].changes] == [(True, True)] * 2
