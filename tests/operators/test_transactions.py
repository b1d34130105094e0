"""merge_transactions: every merge rule, and each completeness rule."""

from datetime import datetime, timedelta, timezone

import pytest

from engine.operators.merge_transactions import MergeTransactions, net_change

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
    assert [e["tx_id"] for e in logic.flush()[0]] == ["8", "8"]


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
    assert logic.due(NOW + timedelta(seconds=4)) == ([], [])
    assert [e["tx_id"] for e in logic.due(NOW + timedelta(seconds=5))[0]] == ["7"]


def test_a_transaction_whose_changes_cancel_out_emits_nothing():
    _, logic = merger()
    logic.add([("*", change("c", None, {"id": 3, "order_id": 1})), ("*", change("d", {"id": 3, "order_id": 1}, None))], NOW)
    assert logic.flush() == ([], [])


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
    assert logic.due(NOW + timedelta(seconds=4)) == ([], [])
    assert logic.due(NOW + timedelta(seconds=5)) == ([event for _, event in items], [])
    assert logic.disposable


def test_with_previous_attaches_the_last_event_of_the_same_key():
    from engine.operators.with_previous import WithPrevious

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


def test_snapshots_from_before_the_modules_were_named_like_their_yaml_keys_restore():
    import base64
    import pickle

    from engine.operators.with_previous import WithPrevious

    # pickled when the modules were engine/operators/transactions.py and previous.py: tx 7 open
    # with one update of row t:1; the last event of key "a" of with_previous
    merge_state = "gAWVGgIAAAAAAACMHWVuZ2luZS5vcGVyYXRvcnMudHJhbnNhY3Rpb25zlIwKTWVyZ2VTdGF0ZZSTlCmBlH2UKIwEb3BlbpR9lIwBN5RoAIwLVHJhbnNhY3Rpb26Uk5QpgZR9lCiMAmlklGgHjAdjaGFuZ2VzlF2UfZQojAJvcJSMAXWUjAZiZWZvcmWUfZQoaAxLAYwBdpRLAXWMBWFmdGVylH2UKGgMSwFoFEsCdYwFdGFibGWUjAF0lIwFdHhfaWSUaAeMA2xzbpRLBYwFdHNfbXOUSwF1YYwJcGVyX3RhYmxllH2UaBhLAXOMCGV4cGVjdGVklE6MCWxhc3Rfc2VlbpSMCGRhdGV0aW1llIwIZGF0ZXRpbWWUk5RDCgfqCwIGAAAAAACUaCCMCHRpbWV6b25llJOUaCCMCXRpbWVkZWx0YZSTlEsASwBLAIeUUpSFlFKUhpRSlIwOdW5yZWFkYWJsZV9lbmSUiYwFYmVndW6UiYwNZmlyc3RfYXJyaXZhbJR9lGgYSwFzjAxsYXN0X2Fycml2YWyUfZRoGEsBc4wHY3JlYXRlZJRLAYwIc25hcHNob3SUiXVic4wFZW5kZWSUXZSMD2xhdGVzdF9ieV90YWJsZZR9lGgYaAdzjARkb25llH2UjAVsb29zZZRdlIwNcmVsZWFzZWRfdXB0b5ROjAhhcnJpdmFsc5RLAWgvfZSMCHVubWFya2VklH2UdWIu"  # noqa: E501
    previous_state = "gAWVTAAAAAAAAACMGWVuZ2luZS5vcGVyYXRvcnMucHJldmlvdXOUjApSZW1lbWJlcmVklJOUKYGUfZSMBGxhc3SUfZQojAFrlIwBYZSMAXaUSwF1c2Iu"
    merge = MergeTransactions("m", {"idle": "10s"}, None)
    out, deads = merge.logic(pickle.loads(base64.b64decode(merge_state))).flush()
    assert ([(e["tx_id"], e["lsn"]) for e in out], deads) == ([("7", 5)], [])
    previous = WithPrevious("p", {"key": "k"}, None).logic(pickle.loads(base64.b64decode(previous_state)))
    assert previous.add([("a", {"k": "a", "v": 2})], NOW) == ([{"k": "a", "v": 2, "previous": {"k": "a", "v": 1}}], [])


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


# -- poison: malformed END records and change events (one bad event never stops the flow) -------
GOOD_END = {"status": "END", "id": "7:300", "event_count": 3,
            "data_collections": [{"data_collection": "public.transport_order", "event_count": 1},
                                 {"data_collection": "public.note", "event_count": 2}]}
BAD_ENDS = [
    ({"event_count": "x", "data_collections": []}, "event_count is not a count of events: 'x'"),
    ({"data_collections": "abc"}, "data_collections is not a list: str 'abc'"),
    ({"data_collections": [{"data_collection": 5, "event_count": 1}]},
     "data_collections[0].data_collection is not a table name: 5"),
    ({"data_collections": [GOOD_END["data_collections"][0], 5]}, "data_collections[1] is not an object: int 5"),
    ({"data_collections": [None]}, "data_collections[0] is not an object: NoneType None"),
    ({"data_collections": [{"data_collection": "public.note", "event_count": -2}]},
     "data_collections[0].event_count is not a count of events: -2"),
    ({"data_collections": [{"data_collection": "public.note", "event_count": True}]},
     "data_collections[0].event_count is not a count of events: True"),
    ({"event_count": -1}, "event_count is not a count of events: -1"),
    ({"event_count": None, "data_collections": None}, "event_count is not a count of events: None"),
]


@pytest.mark.parametrize("bad,reason", BAD_ENDS, ids=[r for _, r in BAD_ENDS])
def test_a_malformed_end_is_dead_lettered_and_its_transaction_completes_when_a_later_one_touches_its_tables(bad, reason):
    merge, logic = merger(markers=True)
    end = {**GOOD_END, **bad}
    pairs, deads = merge.group([end] + order_tx(7))
    out, deads = logic.add(pairs[0][1], NOW)
    assert out == [] and [(d.event, d.step, d.error) for d in deads] == [(end, "merge", f"END record of transaction 7: {reason}")]
    later = [change("u", {"id": 1, "order_id": 5, "text": "y"}, {"id": 1, "order_id": 5, "text": "z"}, tx=8, lsn=9),
             change("u", {"id": 10, "order_id": 5, "w": 1}, {"id": 10, "order_id": 5, "w": 2}, table="transport_order", tx=8)]
    out, deads = logic.add([("*", {**GOOD_END, "id": "8:400", "event_count": 2, "data_collections": None})]
                           + [("*", e) for e in later], NOW)
    assert deads == [] and [e["tx_id"] for e in out] == ["7", "8"]  # commit order kept
    assert logic.s.open == {} and logic.s.ended == []


def test_a_malformed_end_holds_no_later_transaction_back_and_idle_or_the_end_of_input_releases_it():
    _, logic = merger(markers=True, idle="5s")
    _, deads = logic.add([("*", {**GOOD_END, "event_count": "x"})] + [("*", e) for e in order_tx(7)[1:]], NOW)
    assert len(deads) == 1
    other = change("c", None, {"id": 10, "order_id": 6, "w": 1}, table="transport_order", tx=8)
    out, _ = logic.add([("*", {**GOOD_END, "id": "8:1", "data_collections": [], "event_count": 1}), ("*", other)], NOW)
    assert [e["tx_id"] for e in out] == ["8"]  # 7 touched only note: nothing says it is over
    assert logic.next_notification() == NOW + timedelta(seconds=5)
    out, deads = logic.due(NOW + timedelta(seconds=5))
    assert [(e["tx_id"], e["ops"]) for e in out] == [("7", {"note": "u"})] and deads == []
    _, logic = merger(markers=True)  # no idle: the end of the input
    logic.add([("*", {**GOOD_END, "data_collections": [5]})] + [("*", e) for e in order_tx(7)], NOW)
    assert [e["tx_id"] for e in logic.flush()[0]] == ["7"]


def test_a_malformed_end_without_changes_is_forgotten_after_idle():
    _, logic = merger(markers=True, idle="5s")
    logic.add([("*", {**GOOD_END, "event_count": -1})], NOW)
    assert logic.due(NOW + timedelta(seconds=5)) == ([], []) and logic.s.open == {} and logic.s.ended == []


def test_records_without_a_usable_id_or_object_are_dead_lettered_by_group_with_the_original():
    merge, _ = merger(markers=True)
    wrapped_null = {"schema": {"type": "struct"}, "payload": None}
    batch = [wrapped_null, {"status": "END", "id": None}, {"status": "END", "id": ""}, 5, "text",
             {"schema": {}, "payload": ["x"]}, {"table": "note"}]
    pairs, deads = merge.group(batch + [{"op": "c", "table": "note"}])
    assert pairs == [("*", [("*", {"op": "c", "table": "note"})])]  # a change without tx_id: released in source order
    assert [(d.event is e, d.error) for d, e in zip(deads, batch)] == [
        (True, "'payload' of a record with a schema is not an object: NoneType"),
        (True, "transaction record without a usable id: None"),
        (True, "transaction record without a usable id: ''"),
        (True, "not an object: int"), (True, "not an object: str"),
        (True, "'payload' of a record with a schema is not an object: list"),
        (True, "no transaction id (tx_id) in the change event")]


def test_changes_that_cannot_be_merged_are_dead_lettered_when_they_arrive_and_the_rest_goes_on():
    _, logic = merger()
    bad = [change("c", None, [1, 2], tx=7), change("u", "x", {"id": 1}, tx=7), change("c", None, {"id": 1}, table=None, tx=7),
           {**change("c", None, {"id": 2}), "tx_id": 10 ** 5000}]  # no text for a 5000-digit id
    out, deads = logic.add([("*", e) for e in bad + order_tx(7)], NOW)
    assert [d.error for d in deads] == ["'after' is not an object: list", "'before' is not an object: str",
                                        "'table' is not a table name: NoneType None",
                                        "Exceeds the limit (4300 digits) for integer string conversion; use "
                                        "sys.set_int_max_str_digits() to increase the limit"]
    assert [d.event for d in deads] == bad and logic.s.open["7"].changes == order_tx(7)


def test_dead_letters_of_transactions_released_by_flush_or_idle_are_returned_not_dropped():
    _, logic = merger(idle="5s", group="int(after.code)")
    logic.add([("*", change("c", None, {"id": 1, "code": "x"}, tx=7)), ("*", change("c", None, {"id": 2, "code": "3"}, tx=7))], NOW)
    out, deads = logic.due(NOW + timedelta(seconds=5))
    assert [e["key"] for e in out] == ["3"] and [d.event["after"]["id"] for d in deads] == [1]
    assert deads[0].error.startswith("group: ")
    logic.add([("*", change("c", None, {"id": 3, "code": "y"}, tx=8))], NOW)
    assert [(d.event["after"]["id"], d.step) for d in logic.flush()[1]] == [(3, "merge")]


def test_a_key_whose_changes_cannot_be_combined_dead_letters_them_and_other_keys_go_on():
    _, logic = merger()
    mixed = [change("c", None, {"id": 1, "order_id": 5}, tx=7, lsn=1), change("c", None, {"id": 2, "order_id": 5}, tx=7, lsn="x"),
             change("c", None, {"id": 3, "order_id": 6}, tx=7, lsn=2)]
    logic.add([("*", e) for e in mixed], NOW)
    out, deads = logic.flush()
    assert [e["key"] for e in out] == ["6"]
    assert [d.event for d in deads] == mixed[:2] and deads[0].error.startswith("key '5': ")


def test_an_end_delivered_twice_before_its_release_releases_the_transaction_once():
    _, logic = merger(markers=True)
    out, _ = logic.add([("*", end_marker(7)), ("*", end_marker(7))] + [("*", e) for e in order_tx(7)], NOW)
    assert [e["tx_id"] for e in out] == ["7"]


def test_an_end_naming_none_of_our_tables_releases_changes_already_taken_instead_of_dropping_them():
    _, logic = merger(markers=True, tables=["note"])
    logic.add([("*", e) for e in order_tx(7)], NOW)
    out, _ = logic.add([("*", {**GOOD_END, "data_collections": [{"data_collection": "public.trip", "event_count": 1}]})], NOW)
    assert [(e["tx_id"], e["tables"]) for e in out] == [("7", ["note", "transport_order"])] and logic.s.open == {}
