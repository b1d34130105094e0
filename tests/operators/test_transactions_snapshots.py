"""merge_transactions under real CDC conditions: Debezium snapshot reads (initial and
incremental), changes without transaction markers, and the source position (lsn, seq) of every
output change. Hand-made Debezium-shaped records, independent of the simulator."""

import pickle
from datetime import datetime, timedelta, timezone

from engine.operators.debezium import Debezium
from engine.operators.merge_transactions import MergeTransactions

NOW = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


def change(op, table, id_, before=None, after=None, tx=None, lsn=None, snapshot="false"):
    """A change as the ``debezium`` step makes it (with its ``source``)."""
    return {"op": op, "before": before, "after": after, "ts_ms": 1, "table": table, "lsn": lsn,
            "tx_id": None if tx is None else str(tx), "transaction": None if tx is None else {"id": f"{tx}:{lsn}"},
            "source": {"table": table, "lsn": lsn, "txId": tx, "snapshot": snapshot}}


def row(id_, v, order=None):
    return {"id": id_, "v": v, "order_id": id_ if order is None else order}


def read(table, id_, v, lsn, snapshot="true", tx=None):
    return change("r", table, id_, None, row(id_, v), tx=tx, lsn=lsn, snapshot=snapshot)


def begin(tx):
    return {"status": "BEGIN", "id": f"{tx}:0", "event_count": None, "data_collections": None}


def end(tx, changes):
    counts = {}
    for c in changes:
        counts[c["table"]] = counts.get(c["table"], 0) + 1
    return {"status": "END", "id": f"{tx}:0", "event_count": len(changes),
            "data_collections": [{"data_collection": f"public.{t}", "event_count": n} for t, n in counts.items()]}


def merger(**config):
    merge = MergeTransactions("merge", {"group": "str(coalesce(after.order_id, before.order_id))", **config}, None)
    return merge, merge.logic()


def feed(merge, logic, events, now=NOW):
    pairs, deads = merge.group(events)
    assert deads == []
    out, deads = [], []
    for _, items in pairs:
        emitted, dead = logic.add(items, now)
        out += emitted
        deads += dead
    assert deads == []
    return out


def apply_change(state, c):
    """One row change (raw or net) applied to ``state``: the row as a sink keeps it."""
    key = (c["table"], (c["after"] or c["before"])["id"])
    if c["op"] == "d":
        state.pop(key, None)
    else:
        state[key] = c["after"]


def apply(state, events):
    """Apply released events, in release order, as a sink would without reordering."""
    for event in events:
        for c in event["changes"]:
            apply_change(state, c)
    return state


def truth(events, state=None):
    """Every change applied in LSN order."""
    state = dict(state or {})
    for c in sorted((e for e in events if "op" in e), key=lambda e: e["lsn"]):
        apply_change(state, c)
    return state


# -- initial snapshot (snapshot.mode=initial) followed by streaming with markers -------------------
SNAPSHOT = [read("transport_order", 1, 0, 100, "first", tx=500), read("transport_order", 2, 0, 100, tx=500),
            read("transport_order", 3, 0, 100, "last_in_data_collection", tx=500),
            read("note", 1, 0, 100, "last", tx=500)]
TX601 = [change("u", "transport_order", 1, row(1, 0), row(1, 1), tx=601, lsn=200),
         change("d", "transport_order", 2, row(2, 0), None, tx=601, lsn=201)]
TX602 = [change("d", "note", 1, row(1, 0), None, tx=602, lsn=300),
         change("c", "transport_order", 4, None, row(4, 1), tx=602, lsn=301)]
STREAM = [begin(601), *TX601, end(601, TX601), begin(602), *TX602, end(602, TX602)]


def test_initial_snapshot_rows_come_out_before_the_later_transactions_and_their_updates_and_deletes_win():
    merge, logic = merger(markers=True)  # no idle: an unbounded Kafka input
    assert feed(merge, logic, SNAPSHOT) == [] and logic.next_notification() is None
    out = feed(merge, logic, STREAM)
    assert [(e["tx_id"], e["key"]) for e in out] == [
        ("500", "1"), ("500", "2"), ("500", "3"), ("601", "1"), ("601", "2"), ("602", "1"), ("602", "4")]
    assert apply({}, out) == truth(SNAPSHOT + STREAM)
    assert ("transport_order", 2) not in apply({}, out)  # the deleted row does not come back
    assert logic.flush() == ([], []) and logic.s.loose == [] and logic.s.open == {}


def test_the_final_state_is_the_lsn_order_whatever_order_the_topics_are_read_in():
    orders = [e for e in SNAPSHOT + STREAM if e.get("table") == "transport_order"]
    notes = [e for e in SNAPSHOT + STREAM if e.get("table") == "note"]
    markers = [e for e in STREAM if "status" in e]
    for topics in ([markers, orders, notes], [notes, markers, orders], [orders, notes, markers]):
        merge, logic = merger(markers=True)
        out = []
        for topic in topics:
            out += feed(merge, logic, topic)
        out += logic.flush()[0]
        assert apply({}, out) == truth(SNAPSHOT + STREAM), topics


def test_snapshot_reads_without_transaction_id_are_detected_by_op_r_alone():
    merge, logic = merger(markers=True)
    plain = [{k: v for k, v in e.items() if k not in ("source", "transaction")} | {"tx_id": None} for e in SNAPSHOT]
    assert feed(merge, logic, plain) == []
    out = feed(merge, logic, STREAM)
    assert [e["tx_id"] for e in out][:3] == [None, None, None] and apply({}, out) == truth(SNAPSHOT + STREAM)


def test_debezium_cast_output_carries_source_snapshot_and_the_snapshot_row_is_released_in_order():
    cast = Debezium("cast", {})
    raw = {"op": "r", "before": None, "after": {"id": 2, "v": 0, "order_id": 2}, "ts_ms": 1,
           "source": {"table": "transport_order", "lsn": 100, "txId": 500, "snapshot": "true"}}
    decoded = cast.decode(raw)
    assert decoded["source"]["snapshot"] == "true" and decoded["tx_id"] == "500"
    merge, logic = merger(markers=True)
    assert feed(merge, logic, [decoded]) == []
    out = feed(merge, logic, STREAM)
    assert [(e["tx_id"], e["ops"]) for e in out][:2] == [("500", {"transport_order": "c"}),
                                                         ("601", {"transport_order": "u"})]
    assert ("transport_order", 2) not in apply({}, out)


# -- incremental snapshots: signal-table chunks interleaved with streaming --------------------------
T10 = [change("c", "transport_order", 1, None, row(1, 1), tx=10, lsn=10)]
CHUNK1 = [read("transport_order", 1, 1, 15, "incremental"), read("transport_order", 3, 0, 15, "incremental")]
T20 = [change("d", "transport_order", 1, row(1, 1), None, tx=20, lsn=20),
       change("u", "transport_order", 3, row(3, 0), row(3, 2), tx=20, lsn=21)]
CHUNK2 = [read("transport_order", 3, 2, 25, "incremental"), read("transport_order", 5, 0, 25, "incremental")]
T30 = [change("u", "transport_order", 5, row(5, 0), row(5, 3), tx=30, lsn=30)]
INCREMENTAL = [*T10, *CHUNK1, *T20, *CHUNK2, *T30]


def test_incremental_snapshot_chunks_interleaved_with_marked_streaming_keep_lsn_order():
    merge, logic = merger(markers=True)
    ends = [end(10, T10), end(20, T20), end(30, T30)]
    out = feed(merge, logic, ends)  # the transaction topic read first
    for event in INCREMENTAL:
        out += feed(merge, logic, [event])
    assert logic.s.loose == []  # every chunk went out before the next transaction: none is held
    positions = [(e["tx_id"], e["lsn"]) for e in out]
    assert [lsn for _, lsn in positions] == sorted(lsn for _, lsn in positions)
    assert apply({}, out) == truth(INCREMENTAL)  # row 1 stays deleted, rows 3 and 5 keep their updates


def test_incremental_snapshot_chunks_without_markers_wait_for_an_open_transaction_of_their_table():
    merge, logic = merger()  # later-transaction rule: 10 is complete once 20 is seen
    out = []
    for event in INCREMENTAL:
        out += feed(merge, logic, [event])
    out += logic.flush()[0]
    assert apply({}, out) == truth(INCREMENTAL)
    lsns = [e["lsn"] for e in out]
    assert lsns == sorted(lsns)


def test_a_chunk_never_overtakes_an_older_open_transaction_of_its_table_released_later():
    merge, logic = merger()  # without markers, transactions of different tables go out of order
    old_note = [change("u", "note", 1, row(1, 0), row(1, 1), tx=1, lsn=10)]
    chunk = [read("note", 1, 1, 15, "incremental")]
    orders = [change("c", "transport_order", 7, None, row(7, 0), tx=2, lsn=20),
              change("c", "transport_order", 8, None, row(8, 0), tx=3, lsn=30)]
    out = feed(merge, logic, old_note + chunk + orders)
    assert [e["tx_id"] for e in out] == ["2"]  # 1 still open: the chunk of its table waits
    later_note = [change("u", "note", 1, row(1, 1), row(1, 2), tx=4, lsn=40)]
    out += feed(merge, logic, later_note) + logic.flush()[0]
    assert [e["tx_id"] for e in out] == ["2", "1", None, "3", "4"]
    assert apply({}, out) == truth(old_note + chunk + orders + later_note, {("note", 1): row(1, 0)})


# -- markers, no idle, unbounded input -------------------------------------------------------------
def test_a_snapshot_with_markers_and_no_idle_is_released_as_soon_as_a_later_transaction_completes():
    merge, logic = merger(markers=True)
    assert feed(merge, logic, SNAPSHOT[:2] + [begin(601)] + TX601[:1]) == []
    assert logic.due(NOW + timedelta(hours=1)) == ([], [])  # nothing complete: nothing moves
    assert logic.next_notification() is None
    out = feed(merge, logic, TX601[1:] + [end(601, TX601)])
    assert [e["tx_id"] for e in out] == ["500", "500", "601", "601"]
    assert logic.due(NOW + timedelta(hours=1)) == ([], []) and logic.s.loose == []


def test_due_releases_what_a_completed_transaction_lets_go_even_without_idle():
    merge, logic = merger(markers=True)
    feed(merge, logic, SNAPSHOT[:1] + [begin(601)] + TX601)
    logic.s.ended.append("601")  # as if END had been taken by a call that raised before releasing
    logic.s.open["601"].expected = {"transport_order": 2}
    out, deads = logic.due(NOW)
    assert [e["tx_id"] for e in out] == ["500", "601", "601"] and deads == []


def test_a_snapshot_read_arriving_after_a_later_transaction_was_released_goes_at_once():
    merge, logic = merger(markers=True)
    assert [e["tx_id"] for e in feed(merge, logic, STREAM[:4])] == ["601", "601"]
    out = feed(merge, logic, [read("note", 9, 0, 100)])
    assert [(e["tx_id"], e["lsn"]) for e in out] == [(None, 100)]


def test_idle_and_the_end_of_input_release_snapshot_rows_no_transaction_follows():
    merge, logic = merger(markers=True, idle="5s")
    feed(merge, logic, SNAPSHOT)
    assert logic.next_notification() == NOW + timedelta(seconds=5)
    assert logic.due(NOW + timedelta(seconds=4)) == ([], [])
    assert [e["key"] for e in logic.due(NOW + timedelta(seconds=5))[0]] == ["1", "2", "3"]
    merge, logic = merger(markers=True)
    feed(merge, logic, SNAPSHOT)
    assert len(logic.flush()[0]) == 3 and logic.s.loose == []


# -- transactions without markers ------------------------------------------------------------------
def test_a_transaction_id_that_never_gets_markers_goes_before_the_next_marked_transaction_of_its_table():
    merge, logic = merger(markers=True)
    unmarked = [change("u", "note", 1, row(1, 0), row(1, 1), tx=800, lsn=50)]
    marked = [change("u", "note", 1, row(1, 1), row(1, 2), tx=801, lsn=60)]
    assert feed(merge, logic, unmarked) == []
    out = feed(merge, logic, [begin(801)] + marked + [end(801, marked)])
    assert [(e["tx_id"], e["changes"][0]["after"]["v"]) for e in out] == [("800", 1), ("801", 2)]
    late = [change("u", "note", 2, row(2, 0), row(2, 1), tx=800, lsn=55)]  # a change of 800 after all: loose
    assert [e["tx_id"] for e in feed(merge, logic, late + [end(800, unmarked + late)])] == ["800"]
    assert logic.s.open == {} and logic.s.ended == []  # its late END is ignored


def test_a_transaction_whose_begin_was_seen_is_never_taken_for_one_without_markers():
    merge, logic = merger(markers=True)
    first = [change("u", "note", 1, row(1, 0), row(1, 1), tx=800, lsn=50)]
    second = [change("u", "note", 2, row(2, 0), row(2, 1), tx=801, lsn=60)]
    feed(merge, logic, [begin(800)] + first)
    feed(merge, logic, second + [end(801, second)])
    assert "800" in logic.s.open  # it waits for its END
    assert [e["tx_id"] for e in feed(merge, logic, [end(800, first)])] == ["800"]


def test_a_snapshot_from_before_the_unended_index_still_finds_the_transactions_without_markers():
    """``MergeState.unended`` (the candidates _unmarked looks at) is rebuilt for a snapshot taken
    before it existed: the marker-less transaction 800 still goes before marked 801."""
    merge, logic = merger(markers=True)
    unmarked = [change("u", "note", 1, row(1, 0), row(1, 1), tx=800, lsn=50)]
    feed(merge, logic, unmarked + [begin(799)])
    old = pickle.loads(pickle.dumps(logic.state()))
    del old.unended  # as pickled by the version before it
    restored = merge.logic(old)
    assert list(restored.s.unended) == ["800"]
    marked = [change("u", "note", 1, row(1, 1), row(1, 2), tx=801, lsn=60)]
    out = feed(merge, restored, [begin(801)] + marked + [end(801, marked)])
    assert [e["tx_id"] for e in out] == ["800", "801"] and restored.s.unended == {}


def test_a_backlog_of_ended_transactions_is_not_walked_at_every_release():
    """END records ahead of their data (a backlog) open thousands of transactions; only those a
    change opened with no BEGIN or END are candidates to be proven marker-less."""
    merge, logic = merger(markers=True)
    txs = {n: [change("u", "note", n, row(n, 0), row(n, 1), tx=n, lsn=n)] for n in range(1000, 1300)}
    feed(merge, logic, [end(n, c) for n, c in txs.items()])
    assert len(logic.s.open) == 300 and logic.s.unended == {}
    out = feed(merge, logic, [c for changes in txs.values() for c in changes])
    assert [e["tx_id"] for e in out] == [str(n) for n in txs] and logic.s.open == {} and logic.s.unended == {}


def test_changes_without_transaction_id_are_released_in_lsn_order_not_dead_lettered():
    merge, logic = merger(markers=True)
    loose = change("u", "transport_order", 1, row(1, 0), row(1, 5), lsn=150)
    out = feed(merge, logic, [loose] + STREAM[:4])
    assert [(e["tx_id"], e["lsn"]) for e in out] == [(None, 150), ("601", 200), ("601", 201)]


# -- the source position of every output change ------------------------------------------------------
def test_every_net_change_carries_the_lsn_and_seq_of_its_rows_last_source_change():
    merge, logic = merger(markers=True)
    tx = [change("c", "transport_order", 1, None, row(1, 0), tx=7, lsn=10),
          change("d", "note", 1, row(1, 0, order=1), None, tx=7, lsn=11),
          change("c", "note", 1, None, row(1, 1, order=1), tx=7, lsn=12),
          change("u", "transport_order", 1, row(1, 0), row(1, 1), tx=7, lsn=13)]
    out = feed(merge, logic, tx + [end(7, tx)])
    assert [(c["table"], c["op"], c["lsn"], c["seq"], c["merged"], c["snapshot"]) for c in out[0]["changes"]] == [
        ("transport_order", "c", 13, 3, 2, False), ("note", "u", 12, 2, 2, False)]
    snap = feed(merge, logic, [read("note", 2, 0, None)]) + logic.flush()[0]
    assert [(c["op"], c["lsn"], c["seq"], c["snapshot"]) for e in snap for c in e["changes"]] == [("c", None, 0, True)]


def test_snapshot_rows_released_together_are_one_event_per_domain_key_with_seq_in_source_order():
    merge, logic = merger(markers=True)
    rows = [change("r", "note", 1, None, row(1, 0, order=5), lsn=100, snapshot="true"),
            change("r", "note", 2, None, row(2, 0, order=5), lsn=100, snapshot="true"),
            change("r", "transport_order", 5, None, row(5, 0), lsn=100, snapshot="true")]
    out = feed(merge, logic, rows) + logic.flush()[0]
    assert [(e["key"], [(c["table"], c["seq"]) for c in e["changes"]]) for e in out] == [
        ("5", [("note", 0), ("note", 1), ("transport_order", 2)])]


# -- state -----------------------------------------------------------------------------------------------
def test_loose_changes_survive_a_snapshot_and_a_state_from_before_them_still_loads():
    merge, logic = merger(markers=True)
    feed(merge, logic, SNAPSHOT)
    logic = merge.logic(pickle.loads(pickle.dumps(logic.state())))
    out = feed(merge, logic, STREAM)
    assert apply({}, out) == truth(SNAPSHOT + STREAM)
    logic = merger(markers=True)[1]
    feed(merge, logic, STREAM[:2])  # 601 open, one change in
    old = logic.state()
    for name in ("loose", "released_upto", "arrivals", "begun", "unmarked"):
        delattr(old, name)
    del old.open["601"].first_arrival, old.open["601"].last_arrival
    logic = merge.logic(pickle.loads(pickle.dumps(old)))
    out = feed(merge, logic, SNAPSHOT + STREAM[2:])
    assert apply({}, out) == truth(SNAPSHOT + STREAM) and logic.s.open == {} and logic.s.loose == []
