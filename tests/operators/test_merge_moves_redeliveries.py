"""merge_transactions on two inputs real CDC makes and the simulator does not: a row an UPDATE
moves from one domain key to another (both keys get an event), and Debezium sending a
transaction's changes and markers again after its Kafka Connect worker crashed (at-least-once:
the transaction is not released twice)."""

import pickle
from datetime import datetime, timezone

from engine.operators.merge_transactions import MergeTransactions

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc)
HU = {"id": "h1", "order_id": "A", "weight_kg": 1}
GROUP = "if(table == 'transport_order', coalesce(after.id, before.id), coalesce(after.order_id, before.order_id))"


def change(op, before, after, tx, lsn, table="handling_unit"):
    return {"op": op, "before": before, "after": after, "table": table, "tx_id": tx, "lsn": lsn, "ts_ms": 1,
            "source": {"snapshot": "false", "txId": int(tx), "lsn": lsn}}


def end(tx, lsn, **counts):
    return {"status": "END", "id": f"{tx}:{lsn}", "event_count": sum(counts.values()), "ts_ms": 1,
            "data_collections": [{"data_collection": f"public.{t}", "event_count": n} for t, n in counts.items()]}


def begin(tx, lsn):
    return {"status": "BEGIN", "id": f"{tx}:{lsn}", "event_count": None, "data_collections": None, "ts_ms": 1}


def merger(group=GROUP):
    merge = MergeTransactions("merge", {"group": group, "markers": True}, None)
    return merge, merge.logic()


def feed(merge, logic, events):
    out, dead = [], []
    for pairs in merge.group(events)[0]:
        o, d = logic.add(pairs[1], NOW)
        out, dead = out + o, dead + d
    return out, dead


def summary(events):
    return sorted((e["tx_id"], e["key"], [(c["table"], c["op"], c["before"] and c["before"].get("order_id"),
                                           c["after"] and c["after"].get("order_id")) for c in e["changes"]])
                  for e in events)


def test_an_update_moving_a_row_to_another_order_is_in_the_events_of_both_orders():
    merge, logic = merger()
    moved = dict(HU, order_id="B")
    out, dead = feed(merge, logic, [begin("7", 100), change("u", HU, moved, "7", 101), end("7", 102, handling_unit=1)])
    assert not dead
    moved_change = [("handling_unit", "u", "A", "B")]
    assert summary(out) == [("7", "A", moved_change), ("7", "B", moved_change)]
    assert out[0]["changes"][0] is not out[1]["changes"][0]  # each event its own change object
    assert all(e["changes"][0]["changed"] == ["order_id"] and e["changes"][0]["lsn"] == 101 for e in out)


def test_a_row_deleted_and_inserted_under_another_order_and_a_move_and_back():
    merge, logic = merger()
    note = {"id": 9, "order_id": "A", "body": "x"}
    there, back = dict(HU, order_id="B"), dict(HU, weight_kg=2)
    out, _ = feed(merge, logic, [
        change("d", note, None, "8", 200, table="note"),
        change("c", None, dict(note, order_id="C"), "8", 201, table="note"),
        change("u", HU, there, "8", 202), change("u", there, back, "8", 203),  # A -> B -> A: stays in A
        end("8", 204, note=2, handling_unit=2)])
    assert summary(out) == [("8", "A", [("note", "u", "A", "C"), ("handling_unit", "u", "A", "A")]),
                            ("8", "C", [("note", "u", "A", "C")])]


def test_a_group_reading_a_whole_row_still_finds_the_order_left():
    merge, logic = merger(group="coalesce(after['order_id'], before['order_id'])")
    out, _ = feed(merge, logic, [change("u", HU, dict(HU, order_id="B"), "9", 300), end("9", 301, handling_unit=1)])
    assert sorted(e["key"] for e in out) == ["A", "B"]


def test_an_update_keeping_the_order_is_in_one_event():
    merge, logic = merger()
    out, _ = feed(merge, logic, [change("u", HU, dict(HU, weight_kg=5), "10", 400), end("10", 401, handling_unit=1)])
    assert summary(out) == [("10", "A", [("handling_unit", "u", "A", "A")])]


def _transaction(tx, lsn):
    return [begin(tx, lsn), change("u", HU, dict(HU, weight_kg=lsn), tx, lsn + 1),
            change("u", dict(HU, weight_kg=lsn), dict(HU, weight_kg=lsn + 1), tx, lsn + 2),
            end(tx, lsn + 3, handling_unit=2)]


def test_a_transaction_debezium_sends_again_after_a_crash_is_not_released_twice():
    merge, logic = merger()
    first = _transaction("11", 500) + _transaction("12", 510)
    out, _ = feed(merge, logic, first)
    assert [e["tx_id"] for e in out] == ["11", "12"]
    # the worker died before committing its offsets: from transaction 11 again, then a new one
    again, _ = feed(merge, logic, _transaction("11", 500) + _transaction("12", 510)[1:] + _transaction("13", 520))
    assert [e["tx_id"] for e in again] == ["13"]
    assert logic.flush()[0] == []  # nothing was held back to come out later either


def test_only_the_changes_at_or_before_the_released_position_count_as_sent_again():
    """A change of a released transaction beyond what was released is not a copy: it still goes."""
    merge, logic = merger()
    out, _ = feed(merge, logic, _transaction("14", 600))
    late = change("u", dict(HU, weight_kg=601), dict(HU, weight_kg=9), "14", 650)
    again, _ = feed(merge, logic, [change("u", HU, dict(HU, weight_kg=600), "14", 601), late])
    assert again == [] and [(e["tx_id"], e["changes"][0]["lsn"]) for e in logic.flush()[0]] == [("14", 650)]


def test_a_change_below_the_released_position_that_was_not_in_the_event_still_goes():
    """Only a change at one of the released changes' positions is a copy: one at a position the
    transaction's event did not hold (an END whose counts were met by other changes) is not
    dropped as sent again (it was: anything at or before the highest position counted)."""
    merge, logic = merger()
    out, _ = feed(merge, logic, _transaction("17", 900))
    assert [(e["tx_id"], e["changes"][0]["lsn"]) for e in out] == [("17", 902)]
    unseen = change("u", dict(HU, weight_kg=5), dict(HU, weight_kg=6), "17", 899, table="handling_unit")
    copy = change("u", HU, dict(HU, weight_kg=900), "17", 901)
    again, dead = feed(merge, logic, [copy, unseen])
    assert again == [] and dead == []
    assert [(e["tx_id"], [c["lsn"] for c in e["changes"]]) for e in logic.flush()[0]] == [("17", [899])]


def test_a_redelivery_after_a_restart_from_the_snapshotted_state_is_dropped_too():
    merge, logic = merger()
    feed(merge, logic, _transaction("15", 700))
    restored = merge.logic(pickle.loads(pickle.dumps(logic.s)))
    out, _ = restored.add(merge.group(_transaction("15", 700))[0][0][1], NOW)
    assert out == [] and restored.flush()[0] == []


def test_a_state_snapshotted_with_the_highest_position_only_still_drops_what_is_at_or_before_it():
    merge, logic = merger()
    feed(merge, logic, _transaction("18", 950))
    logic.s.done["18"] = 952  # as the snapshots taken before the positions were kept hold it
    restored = merge.logic(pickle.loads(pickle.dumps(logic.s)))
    out, _ = restored.add(merge.group([change("u", HU, dict(HU, weight_kg=7), "18", 949)])[0][0][1], NOW)
    assert out == [] and restored.flush()[0] == []


def test_a_transaction_released_by_idleness_keeps_taking_late_changes():
    """Only a transaction whose END's counts were met is known whole: others may get more."""
    merge, logic = merger()
    feed(merge, logic, [change("u", HU, dict(HU, weight_kg=3), "16", 800)])
    assert [e["tx_id"] for e in logic.flush()[0]] == ["16"]
    feed(merge, logic, [change("u", HU, dict(HU, weight_kg=3), "16", 800)])
    assert [e["tx_id"] for e in logic.flush()[0]] == ["16"]


MESSAGE = "io.debezium.connector.postgresql.LogicalDecodingMessageMonitor$LogicalDecodingMessageId@6cca960e"


def test_an_end_counting_a_logical_decoding_message_does_not_hold_the_transaction_without_tables():
    """pg_logical_emit_message(true, ...) in a transaction: END counts it under a collection that
    is no table (seen on Debezium 3.1.3); its record goes to <prefix>.message, which the flow does
    not read. Without ``tables`` the merge waited for it, holding every later transaction."""
    merge = MergeTransactions("merge", {"group": GROUP, "markers": True}, None)
    logic = merge.logic()
    end_7 = {"status": "END", "id": "7:102", "event_count": 2, "ts_ms": 1,
             "data_collections": [{"data_collection": "public.handling_unit", "event_count": 1},
                                  {"data_collection": MESSAGE, "event_count": 1}]}
    only_message = {"status": "END", "id": "8:200", "event_count": 1, "ts_ms": 1,
                    "data_collections": [{"data_collection": MESSAGE, "event_count": 1}]}
    out, dead = feed(merge, logic, [begin("7", 100), change("u", HU, dict(HU, weight_kg=2), "7", 101), end_7,
                                    begin("8", 150), only_message] + _transaction("9", 300))
    assert not dead and [e["tx_id"] for e in out] == ["7", "9"]
