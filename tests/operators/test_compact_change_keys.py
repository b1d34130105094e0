"""Compact changes (engine/operators/compact_change.py: a ``debezium`` step that only a
``merge_transactions`` step reads hands it tuples) change nothing anyone sees: hand-made Debezium
PostgreSQL records and transaction metadata, through ``process_owned`` and the merge with the link
and without it, give the same released events and the same dead letters (dicts, never tuples),
batch by batch, across a snapshot of the merge's state; and the link is made only where allowed."""

import copy
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.binding import validate_file, validate_text
from engine.compiler import CompileOptions, compile_topology
from engine.operators.debezium import Debezium
from engine.operators.merge_transactions import MergeTransactions
from engine.unavailable import UNAVAILABLE
from tests.operators.test_debezium_poison import SOURCE, b64, column

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
DEC = "org.apache.kafka.connect.data.Decimal"
COLUMNS = {  # table -> its columns: a Decimal (base64 bytes, scale) and a MicroTimestamp in each
    "orders": [column("id", "int32", optional=False), column("total", "bytes", DEC, scale="2"),
               column("placed", "int64", "io.debezium.time.MicroTimestamp"), column("note", "string")],
    "items": [column("id", "int32", optional=False), column("order_id", "int32"),
              column("qty", "bytes", DEC, scale="3"), column("packed", "int64", "io.debezium.time.MicroTimestamp"),
              column("note", "string")],
    "tags": [column("id", "string", optional=False), column("order_id", "int32"),
             column("weight", "bytes", DEC, scale="1"), column("at", "int64", "io.debezium.time.MicroTimestamp")],
}
BLOCK = {"type": "struct", "optional": True, "name": "event.block", "version": 1, "field": "transaction",
         "fields": [column("id", "string", optional=False), column("total_order", "int64", optional=False),
                    column("data_collection_order", "int64", optional=False)]}


def envelope(table):
    value = {"type": "struct", "fields": COLUMNS[table], "optional": True, "name": f"tms.public.{table}.Value"}
    return {"type": "struct", "optional": False, "name": f"tms.public.{table}.Envelope", "version": 2,
            "fields": [{**value, "field": "before"}, {**value, "field": "after"}, SOURCE, BLOCK,
                       column("op", "string", optional=False), column("ts_ms", "int64")]}


SCHEMAS = {table: envelope(table) for table in COLUMNS}  # one object per table, as connect_json shares it
GROUP = "if(table == 'orders', coalesce(after.id, before.id), coalesce(after.order_id, before.order_id))"
ROW = "table + ':' + str(coalesce(after.id, before.id))"
KEYS = [{"row": ROW, "group": GROUP},
        {"row": "table + ':' + str(coalesce(after.id, before.id) * 1)", "group": GROUP},  # fails on a tag (text id)
        # the group fails on a tag, and on a change whose note is 'y': a row's changes part tuples, part dicts
        {"row": ROW}, {"group": "coalesce(after.id, before.id) * if(coalesce(after.note, before.note) == 'y', 'n', 2)"}]


def record(op, table, before, after, lsn, tx=None, block=True, snapshot="false"):
    source = {"version": "3.1.2.Final", "connector": "postgresql", "name": "tms", "ts_ms": 1764925000000 + lsn,
              "snapshot": snapshot, "db": "tms", "schema": "public", "table": table, "txId": tx, "lsn": lsn,
              "xmin": None}
    transaction = {"id": f"{tx}:{lsn}", "total_order": 1, "data_collection_order": 1} if tx and block else None
    return {"schema": SCHEMAS[table], "payload": {"before": before, "after": after, "source": source, "op": op,
                                                  "ts_ms": 1764925000500 + lsn, "transaction": transaction}}


@st.composite
def a_row(draw, table, key, update=False):
    note = st.sampled_from(["x", "y", UNAVAILABLE] if update else ["x", "y"])  # TOAST: an update's after only
    at = st.sampled_from([1529507596945104, 1764925000123456])
    if table == "orders":
        return {"id": key, "total": b64(draw(st.sampled_from([230, 99999]))), "placed": draw(at), "note": draw(note)}
    if table == "items":
        return {"id": key, "order_id": draw(st.sampled_from([1, 2])), "qty": b64(draw(st.sampled_from([1500, 7]))),
                "packed": draw(at), "note": draw(note)}
    return {"id": f"t{key}", "order_id": draw(st.sampled_from([1, 2])), "weight": b64(5), "at": draw(at)}


POISON = [{"schema": None, "payload": "not an object"}, {"schema": SCHEMAS["orders"], "payload": {"op": "x"}},
          {"schema": SCHEMAS["items"], "payload": {"op": "c", "before": "row", "after": None, "source": {}}},
          {"schema": SCHEMAS["orders"], "payload": {"op": "c", "before": None, "after": None, "source": {}}}]


@st.composite
def world(draw):
    """Batches of ("change", Debezium record) and ("meta", BEGIN/END record) in arrival order."""
    streams, lsn = [], 100
    for number in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["tx", "tx", "tx", "snapshot", "no tx"]))
        tx = 700 + number if kind != "no tx" else None
        changes, counts = [], {}
        for _ in range(draw(st.integers(1, 5))):
            table, key = draw(st.sampled_from(sorted(COLUMNS))), draw(st.integers(1, 2))
            op = "r" if kind == "snapshot" else draw(st.sampled_from(["c", "u", "u", "d", "t"] if kind == "tx"
                                                                     else ["c", "u", "d"]))
            before = draw(a_row(table, key)) if op in "ud" else None
            after = draw(a_row(table, key, op == "u")) if op in "cur" else None
            lsn += 8
            snapshot = draw(st.sampled_from(["true", "last"])) if kind == "snapshot" else "false"
            changes.append(("change", record(op, table, before, after, lsn, tx, draw(st.booleans()), snapshot)))
            counts[table] = counts.get(table, 0) + 1
        if kind == "tx":
            end = draw(st.sampled_from(["counts", "more", "none"]))  # "more": never complete (flush)
            collections = [{"data_collection": f"public.{t}", "event_count": n + (end == "more")}
                           for t, n in counts.items()]
            marker = ("meta", {"status": "END", "id": f"{tx}:{lsn}", "event_count": sum(counts.values()),
                               "data_collections": collections, "ts_ms": 1764925000000 + lsn})
            if end != "none":
                changes.insert(0 if draw(st.booleans()) else len(changes), marker)  # END before or after its changes
            if draw(st.integers(0, 2)) == 0:  # (none and no END: proven unmarked by a later END)
                changes.insert(0, ("meta", {"status": "BEGIN", "id": f"{tx}:{lsn}", "event_count": None,
                                            "data_collections": None}))
        streams.append(changes)
    items = []
    while any(streams):  # the tables' and metadata topics interleaved
        stream = draw(st.sampled_from([s for s in streams if s]))
        items.append(stream.pop(0))
    for _ in range(draw(st.integers(0, 3))):  # redeliveries: a change again, later
        index = draw(st.integers(0, len(items) - 1))
        if items[index][0] == "change":
            at = len(items) if draw(st.booleans()) else draw(st.integers(index + 1, len(items)))
            items.insert(at, copy.deepcopy(items[index]))
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), ("change", copy.deepcopy(draw(st.sampled_from(POISON)))))
    cuts = sorted(draw(st.lists(st.integers(1, len(items)), max_size=5, unique=True)))
    return [items[a:b] for a, b in zip([0] + cuts, cuts + [len(items)], strict=True) if a < b]


def canon(value):
    """``value`` for an exact comparison: containers' kinds and key order, scalars' types and reprs
    (Decimal('2.30') is not Decimal('2.3'))."""
    if type(value) is dict:
        return ("dict", tuple((k, canon(v)) for k, v in value.items()))
    if type(value) in (list, tuple):
        return (type(value).__name__, tuple(canon(v) for v in value))
    return (type(value).__name__, repr(value))


def run(plan, config, link, restore_at=None, wait=False):
    """Each batch's (released events, dead letters, next notification), canonical; the merge's
    dead letters' event kinds."""
    debezium, merge = Debezium("cdc", {}, None), MergeTransactions("merge", config, None)
    if link:
        debezium.compact_later(merge.compact_keys)
    logic, out, kinds, now = merge.logic(), [], set(), T0
    for number, batch in enumerate(copy.deepcopy(plan) + [[]]):  # (the sides share no object)
        now += timedelta(seconds=2)
        decoded, dead = debezium.process_owned([r for kind, r in batch if kind == "change"])
        failed, it, taken = {id(d.event) for d in dead}, iter(decoded), []
        for kind, r in batch:
            if kind == "meta" or id(r) not in failed:
                taken.append(r if kind == "meta" else next(it))
        groups, no_key = merge.group_events_owned(taken)
        events, deads = logic.add(groups[0][1], now) if groups else logic.due(now) if wait else ([], [])
        if number == len(plan):
            more = logic.flush()
            events, deads = events + more[0], deads + more[1]
        kinds |= {type(d.event) for d in no_key + deads}
        out.append((canon(events), [(d.step, d.error, canon(d.event)) for d in dead + no_key + deads],
                    logic.next_notification()))
        if number == restore_at:
            logic = merge.logic(pickle.loads(pickle.dumps(logic.state())))
            logic.resume(now)
    return out, kinds


@pytest.mark.parametrize("keys", KEYS)
@PROPERTY
@given(world(), st.fixed_dictionaries({"markers": st.sampled_from([True, True, False])},
                                      optional={"idle": st.just("3s")}), st.integers(0, 6), st.booleans())
def test_compact_changes_change_nothing_observable(keys, plan, config, restore_at, wait):
    config = {**config, **keys, "tables": sorted(COLUMNS)}
    linked, kinds = run(plan, config, True, wait=wait)
    plain, _ = run(plan, config, False, wait=wait)
    assert linked == plain
    assert kinds <= {dict}  # a dead letter of the merge shows the change as a dict
    restored, kinds = run(plan, config, True, restore_at, wait=wait)  # a snapshot of tuples, restored
    assert restored == run(plan, config, False, restore_at, wait=wait)[0] and kinds <= {dict}


def test_a_late_change_of_a_transaction_proven_unmarked_goes_in_source_order_as_without():
    row = {"id": 1, "total": b64(230), "placed": 1529507596945104, "note": "x"}
    end = {"status": "END", "id": "702:120", "event_count": 1, "data_collections": None}
    plan = [[("change", record("c", "orders", None, row, 100, 701))],
            [("change", record("c", "orders", None, dict(row, id=2), 120, 702)), ("meta", end)],
            [("change", record("u", "orders", row, dict(row, note="y"), 130, 701))]]
    config = {"group": GROUP, "markers": True}
    linked = run(plan, config, True)[0]
    assert linked[1][0] != canon([]) and linked[2][0] == canon([])  # 702, then 701's first change (loose)
    assert linked[3][0] != canon([]) and linked == run(plan, config, False)[0]  # its late update: loose, at the end


def _linked_pair(config=None):
    debezium, merge = Debezium("cdc", {}, None), MergeTransactions("merge", config or {"group": GROUP}, None)
    debezium.compact_later(merge.compact_keys)
    return debezium, merge


def test_the_usual_streamed_update_reaches_the_merge_as_a_tuple_and_leaves_it_as_without():
    before = {"id": 3, "order_id": 1, "qty": b64(1500), "packed": 1529507596945104, "note": "x"}
    change = record("u", "items", before, dict(before, order_id=2, note=UNAVAILABLE), 108, 701)
    end = {"status": "END", "id": "701:108", "event_count": 1,
           "data_collections": [{"data_collection": "public.items", "event_count": 1}]}
    out = []
    for link in (True, False):
        debezium, merge = _linked_pair() if link else (Debezium("cdc", {}, None), MergeTransactions(
            "merge", {"group": GROUP}, None))
        decoded, dead = debezium.process_owned([copy.deepcopy(change)])
        assert not dead and type(decoded[0]) is (tuple if link else dict)
        groups, _ = merge.group_events_owned(decoded + [end])
        assert [type(e) for e in groups[0][1]] == [tuple if link else dict, dict]
        logic = merge.logic()
        events, deads = logic.add(groups[0][1], T0)
        assert not deads and [e["key"] for e in events] == ["2", "1"]  # moved: the order it joined, the one it left
        assert events[0]["changes"][0]["after"]["qty"] == Decimal("1.500")
        out.append(canon(events))
    assert decoded[0]["after"]["packed"] == datetime(2018, 6, 20, 15, 13, 16, 945104, tzinfo=timezone.utc)
    assert out[0] == out[1]


def test_snapshot_reads_changes_without_a_transaction_messages_and_truncates_stay_dicts():
    row = {"id": 1, "total": b64(230), "placed": 1529507596945104, "note": "x"}
    message = record("m", "orders", None, None, 140, 702)
    message["payload"]["message"] = {"prefix": "audit", "content": "aGk="}
    records = [record("r", "orders", None, row, 100, 700, False, "true"),
               record("c", "orders", None, row, 110, 700, False, "last"),  # streamed op, snapshot source
               record("u", "orders", row, dict(row, note="y"), 120, None), record("t", "orders", None, None, 130, 701),
               message, record("d", "orders", row, None, 150, 702)]
    decoded, dead = _linked_pair()[0].process_owned(records)
    assert not dead and [type(e) for e in decoded] == [dict] * 5 + [tuple]


def test_keys_reading_more_than_table_and_rows_or_unslimmed_merges_get_no_link():
    assert MergeTransactions("m", {"group": GROUP}, None).compact_keys() is not None
    assert MergeTransactions("m", {}, None).compact_keys() is not None
    for config in ({"row": "table + ':' + op + str(after.id)"}, {"row": "table + str(lsn)"},
                   {"group": "coalesce(after.order_id, ts_ms)"}, {"group": "source.snapshot"},
                   {"row": "str(transaction.id) + str(after.id)"}):
        assert MergeTransactions("m", config, None).compact_keys() is None, config
    assert not MergeTransactions("m", {"group": "source.snapshot"}, None).slims


SHARED = """\
version: 1
name: shared
sources:
  orders: {{file: {{path: "{dir}/orders.jsonl"}}}}
  transactions: {{file: {{path: "{dir}/transaction.jsonl"}}}}
steps:
  - {{id: changes, from: orders, debezium: {{}}}}
  - {{id: merged, from: [changes, transactions], merge_transactions: {{group: "after.order_id", markers: true}}}}
  - {{id: creates, from: changes, filter: "op == 'c'"}}
sinks:
  out: {{from: [merged, creates], file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_the_compiler_links_the_domain_flow_and_nothing_another_reader_sees(tmp_path):
    (tmp_path / "technical").mkdir()
    env = {"VF_TMS": str(tmp_path), "VF_OUT": str(tmp_path / "out")}
    for name in ("transport_order", "note", "handling_unit", "order_stop", "leg_order", "transaction", "orders"):
        (tmp_path / "technical" / f"{name}.jsonl").write_text("")
        (tmp_path / f"{name}.jsonl").write_text("")

    def debezium_step(topology, taps=None):
        compile_topology(topology, options=CompileOptions(taps=taps or {}))
        return next(step.operator for step in topology.steps if isinstance(step.operator, Debezium))

    domain = str(Path(__file__).parents[2] / "topologies" / "velocity" / "transport_order_domain.yaml")
    assert debezium_step(validate_file(domain, env=env).topology).compacts()
    assert not debezium_step(validate_file(domain, env=env).topology, {"changes": lambda batch: None}).compacts()
    shared = validate_text("shared.yaml", SHARED.format(dir=tmp_path), env={})
    assert shared.ok, [d.message for d in shared.diagnostics]
    assert not debezium_step(shared.topology).compacts()
