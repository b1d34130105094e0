"""merge_transactions: every merge rule, and each completeness rule."""

from datetime import datetime, timedelta, timezone

import pytest

from engine.operators.transactions import MergeTransactions, net_change

NOW = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


def change(op, before=None, after=None, table="note", tx=7, lsn=1):
    return {"op": op, "before": before, "after": after, "table": table, "tx_id": tx, "lsn": lsn, "ts_ms": 1}


A, B, C = {"id": 1, "text": "a"}, {"id": 1, "text": "b"}, {"id": 1, "text": "c"}

RULES = [
    ("insert then updates -> insert of the final row",
     [change("c", None, A), change("u", A, B), change("u", B, C)], ("c", None, C)),
    ("delete + insert -> update", [change("d", A, None), change("c", None, B)], ("u", A, B)),
    ("delete + identical insert -> nothing", [change("d", A, None), change("c", None, A)], None),
    ("update + update -> one update from first before to last after",
     [change("u", A, B), change("u", B, C)], ("u", A, C)),
    ("updates that come back -> nothing", [change("u", A, B), change("u", B, A)], None),
    ("insert ... delete -> nothing", [change("c", None, A), change("u", A, B), change("d", B, None)], None),
    ("no-op update -> nothing", [change("u", A, A)], None),
    ("update then delete -> delete of the original row", [change("u", A, B), change("d", B, None)], ("d", A, None)),
    ("delete alone", [change("d", A, None)], ("d", A, None)),
    ("snapshot read counts as an insert", [change("r", None, A)], ("c", None, A)),
]


@pytest.mark.parametrize("changes,expected", [(r[1], r[2]) for r in RULES], ids=[r[0] for r in RULES])
def test_net_change_rules(changes, expected):
    net = net_change(changes)
    assert (None if net is None else (net["op"], net["before"], net["after"])) == expected


def merger(**config):
    merge = MergeTransactions("merge", {"row": "table + ':' + str(coalesce(after.id, before.id))",
                                        "group": "coalesce(after.order_id, before.order_id)", **config}, None)
    return merge, merge.logic()


def order_tx(tx, lsn=1):
    return [change("c", None, {"id": 10, "order_id": 5, "w": 1}, table="transport_order", tx=tx, lsn=lsn),
            change("d", {"id": 1, "order_id": 5, "text": "x"}, None, table="note", tx=tx, lsn=lsn + 1),
            change("c", None, {"id": 1, "order_id": 5, "text": "y"}, table="note", tx=tx, lsn=lsn + 2)]


def test_one_event_per_transaction_and_domain_key_once_a_later_transaction_is_seen():
    _, logic = merger()
    out, _ = logic.add([("*", e) for e in order_tx(7)], NOW)
    assert out == []  # nothing says transaction 7 is over yet
    out, _ = logic.add([("*", change("u", {"id": 10, "order_id": 5, "w": 1}, {"id": 10, "order_id": 5, "w": 2},
                                     table="transport_order", tx=8, lsn=9)),
                        ("*", change("c", None, {"id": 2, "order_id": 6}, table="note", tx=8, lsn=10))], NOW)
    assert [(e["tx_id"], e["key"], [(c["table"], c["op"]) for c in e["changes"]]) for e in out] == [
        ("7", "5", [("transport_order", "c"), ("note", "u")])]
    assert out[0]["changes"][1]["merged"] == 2 and out[0]["lsn"] == 3
    assert out[0]["changes"][1]["changed"] == ["text"] and out[0]["ops"] == {"transport_order": "c", "note": "u"}
    assert [e["tx_id"] for e in logic.flush()] == ["8", "8"]


def test_end_marker_completes_once_every_table_delivered_its_count_even_when_it_comes_first():
    merge, logic = merger(markers=True)
    end = {"status": "END", "id": "7:300", "event_count": 3, "ts_ms": 1,
           "data_collections": [{"data_collection": "public.transport_order", "event_count": 1},
                                {"data_collection": "public.note", "event_count": 2}]}
    pairs, _ = merge.group([end] + order_tx(7)[:2])
    out, _ = logic.add(pairs[0][1], NOW)
    assert out == []  # one note change still missing
    out, _ = logic.add([("*", order_tx(7)[2])], NOW)
    assert [e["key"] for e in out] == ["5"]


def test_with_markers_transactions_come_out_in_commit_order():
    _, logic = merger(markers=True)
    end = lambda tx, n: {"status": "END", "id": f"{tx}:1", "event_count": n, "data_collections": []}  # noqa: E731
    first = order_tx(7)
    second = [change("u", {"id": 10, "order_id": 5, "w": 1}, {"id": 10, "order_id": 5, "w": 2},
                     table="transport_order", tx=8, lsn=9)]
    out, _ = logic.add([("*", end(7, 3)), ("*", end(8, 1))] + [("*", e) for e in second + first[:2]], NOW)
    assert out == []  # 8 is complete but 7, committed first, still waits for a change
    out, _ = logic.add([("*", first[2])], NOW)
    assert [e["tx_id"] for e in out] == ["7", "8"]


def test_idle_transactions_are_released_after_the_idle_time():
    _, logic = merger(idle="5s")
    logic.add([("*", e) for e in order_tx(7)], NOW)
    assert logic.next_notification() == NOW + timedelta(seconds=5)
    assert logic.due(NOW + timedelta(seconds=4)) == []
    assert [e["tx_id"] for e in logic.due(NOW + timedelta(seconds=5))] == ["7"]


def test_a_transaction_whose_changes_cancel_out_emits_nothing():
    _, logic = merger()
    logic.add([("*", change("c", None, {"id": 3, "order_id": 1})), ("*", change("d", {"id": 3, "order_id": 1}, None))], NOW)
    assert logic.flush() == []


def test_micro_batch_releases_events_together_after_the_interval_and_keeps_keys_in_one_chunk():
    from engine.operators.micro_batch import MicroBatch

    step = MicroBatch("mb", {"every": "5s", "chunks": 4, "key": "order"}, None)
    events = [{"order": i % 3, "n": i} for i in range(30)]
    pairs, _ = step.group(events)
    chunk_of = {}
    for chunk, items in pairs:
        for _, event in items:
            assert chunk_of.setdefault(event["order"], chunk) == chunk
    logic = step.logic()
    chunk, items = pairs[0]
    assert logic.add(items, NOW) == ([], [])
    assert logic.next_notification() == NOW + timedelta(seconds=5)
    assert logic.due(NOW + timedelta(seconds=4)) == []
    assert logic.due(NOW + timedelta(seconds=5)) == [event for _, event in items]
    assert logic.disposable


def test_with_previous_attaches_the_last_event_of_the_same_key():
    from engine.operators.previous import WithPrevious

    step = WithPrevious("prev", {"key": "order", "fields": ["status"]}, None)
    pairs, _ = step.group([{"order": 1, "status": "NEW"}, {"order": 2, "status": "NEW"}, {"order": 1, "status": "DEPARTED"}])
    outputs = {}
    for key, items in pairs:
        outputs[key], _ = step.logic().add(items, NOW)
    assert outputs["1"] == [{"order": 1, "status": "NEW", "previous": None},
                            {"order": 1, "status": "DEPARTED", "previous": {"status": "NEW"}}]
    assert outputs["2"] == [{"order": 2, "status": "NEW", "previous": None}]


def test_with_markers_only_the_tables_read_count_and_foreign_transactions_are_dropped():
    merge, logic = merger(markers=True, tables=["transport_order", "note"])
    end = {"status": "END", "id": "7:300", "event_count": 4, "ts_ms": 1,
           "data_collections": [{"data_collection": "public.transport_order", "event_count": 1},
                                {"data_collection": "public.note", "event_count": 2},
                                {"data_collection": "public.trip", "event_count": 1}]}
    out, _ = logic.add([("*", end)] + [("*", e) for e in order_tx(7)], NOW)
    assert [e["key"] for e in out] == ["5"]
    other = merge.logic()
    other.add([("*", {**end, "id": "8:400", "data_collections": [{"data_collection": "public.trip", "event_count": 1}]})], NOW)
    assert other.s.open == {} and other.s.ended == []


def end_marker(tx, count=3):
    return {"status": "END", "id": f"{tx}:1", "event_count": count, "data_collections": []}


def test_a_repeated_end_marker_of_a_released_transaction_is_ignored_and_the_memory_of_it_is_bounded():
    _, logic = merger(markers=True)
    out, _ = logic.add([("*", end_marker(7))] + [("*", e) for e in order_tx(7)], NOW)
    assert [e["tx_id"] for e in out] == ["7"]
    out, _ = logic.add([("*", end_marker(7))], NOW)  # Connect redelivered it
    assert out == [] and logic.s.open == {} and logic.s.ended == []
    for tx in range(100, 2600):
        logic.add([("*", end_marker(tx))] + [("*", e) for e in order_tx(tx)], NOW)
    assert 1000 <= len(logic.s.done) <= 2000 and "2599" in logic.s.done and "7" not in logic.s.done


def test_the_state_survives_pickling_mid_transaction_even_from_a_list_of_done_ids():
    import pickle

    merge, logic = merger(markers=True)
    logic.add([("*", end_marker(7))] + [("*", e) for e in order_tx(7)[:2]], NOW)
    state = pickle.loads(pickle.dumps(logic.state()))
    state.done = ["5", "6"]  # how snapshots of earlier versions kept it
    resumed = merge.logic(state)
    out, _ = resumed.add([("*", order_tx(7)[2])], NOW)
    assert [e["tx_id"] for e in out] == ["7"]
    assert resumed.add([("*", end_marker(6))], NOW) == ([], []) and resumed.s.open == {}


@pytest.mark.parametrize("before,after,changed", [
    (None, {"id": 1, "text": "a", "gone": None}, ["id", "text"]),       # insert: the columns with a value
    ({"id": 1, "text": "a", "gone": None}, None, ["id", "text"]),       # delete
    ({"id": 1, "text": "a"}, {"id": 1, "text": "b"}, ["text"]),          # same columns
    ({"id": 1, "text": "a"}, {"id": 1, "text": "a", "added": 0}, ["added"]),  # a column appeared
])
def test_changed_columns_of_a_net_change(before, after, changed):
    op = "d" if after is None else "c" if before is None else "u"
    net = net_change([change(op, before, after)])
    assert net["changed"] == changed
