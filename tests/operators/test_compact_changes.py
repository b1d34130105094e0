"""Compact changes (engine/operators/compact_change.py) change nothing observable: on hand-made Debezium
PostgreSQL records and transaction metadata, the flow's calls (bench/domain_replay.py's ``engine_run``) with
the link and without it release the same events and dead letters, a state pickled mid-stream included; a
change is a tuple exactly when it is the usual one (streamed c/u/d of a transaction, keys computed)."""

import base64
import pathlib
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.binding import validate_file
from engine.compiler import compile_topology
from engine.operators.compact_change import GROUP, ROW, STREAMING, as_dict
from engine.operators.debezium import Debezium
from engine.operators.merge_transactions import MergeTransactions

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
DEC, MICRO, PLACEHOLDER = "org.apache.kafka.connect.data.Decimal", "io.debezium.time.MicroTimestamp", \
    "__debezium_unavailable_value"
ROW_KEY = "table + ':' + str(coalesce(after.id, before.id))"
# notes: a group key that fails (int of a text that is no number) within the expression language
GROUP_KEY = ("if(table == 'orders', coalesce(after.id, before.id), if(table == 'notes', "
             "int(coalesce(after.ref, before.ref)), coalesce(after.order_id, before.order_id)))")
SLIMMED = ("source", "transaction")  # what the merge drops of a change it buffers
DOMAIN = {"row": ROW_KEY, "group": GROUP_KEY, "markers": True, "tables": ["orders", "items", "notes"]}


def b64(unscaled: int) -> str:
    return base64.b64encode(unscaled.to_bytes(max(1, (unscaled.bit_length() + 8) // 8), "big", signed=True)).decode()


def column(name, kind, logical=None, **parameters):
    schema = {"type": kind, "optional": name != "id", "field": name}
    if logical:
        schema.update(name=logical, version=1)
    if parameters:
        schema["parameters"] = {k.replace("_", "."): v for k, v in parameters.items()}
    return schema


COLUMNS = {"orders": [column("id", "int32"), column("total", "bytes", DEC, scale="2", connect_decimal_precision="12"),
                      column("placed", "int64", MICRO), column("status", "string")],
           "items": [column("id", "int32"), column("order_id", "int32"),
                     column("qty", "bytes", DEC, scale="3", connect_decimal_precision="9"), column("label", "string")],
           "notes": [column("id", "int32"), column("ref", "string"), column("body", "string"),
                     column("written", "int64", MICRO)]}
SOURCE = {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source", "field": "source",
          "fields": [column(n, t) for n, t in [("version", "string"), ("connector", "string"), ("ts_ms", "int64"),
                                              ("snapshot", "string"), ("schema", "string"), ("table", "string"),
                                              ("txId", "int64"), ("lsn", "int64")]]}
BLOCK = {"type": "struct", "optional": True, "name": "event.block", "version": 1, "field": "transaction",
         "fields": [column("id", "string"), column("total_order", "int64"), column("data_collection_order", "int64")]}


def schema_of(table):
    value = {"type": "struct", "optional": True, "name": f"tms.public.{table}.Value", "fields": COLUMNS[table]}
    return {"type": "struct", "optional": False, "name": f"tms.public.{table}.Envelope", "version": 2,
            "fields": [{**value, "field": "before"}, {**value, "field": "after"}, SOURCE, BLOCK,
                       column("op", "string"), column("ts_ms", "int64")]}


def record(table, op, before, after, lsn, tx=None, commit=None, snapshot="false", txid=None):
    """A Debezium change event (``tx``: the transaction block's (id, total order, order in the table))."""
    source = {"version": "3.1.2.Final", "connector": "postgresql", "ts_ms": commit or 1764925200000 + lsn,
              "snapshot": snapshot, "schema": "public", "table": table, "txId": txid, "lsn": lsn}
    block = None if tx is None else dict(zip(("id", "total_order", "data_collection_order"), tx, strict=True))
    return {"schema": schema_of(table), "payload": {"before": before, "after": after, "source": source, "op": op,
                                                   "ts_ms": 1764925300000 + lsn, "transaction": block}}


texts = st.sampled_from(["a", "b", "é€", "ring twice", ""])
NEW = {"orders": lambda d, i: {"id": i, "total": b64(d(st.integers(-10 ** 9, 10 ** 9))),
                               "placed": d(st.integers(0, 2 * 10 ** 15)), "status": d(texts)},
       "items": lambda d, i: {"id": i, "order_id": d(st.integers(1, 3)), "qty": b64(d(st.integers(-999, 999))),
                              "label": d(texts)},
       "notes": lambda d, i: {"id": i, "ref": d(st.sampled_from(["1", "2", "x"])), "body": d(texts),
                              "written": d(st.sampled_from([None, 0, 1764925200000000]))}}
TOAST = {"orders": "status", "items": "label", "notes": "body"}  # the text column a placeholder may stand in
MOVE = {"orders": "status", "items": "order_id", "notes": "ref"}  # the column an update may move a row with
BAD = [lambda r: {**r, "payload": "not an object"}, lambda r: {**r, "payload": {**r["payload"], "after": "x"}},
       lambda r: {**r, "payload": {**r["payload"], "op": "t", "before": None, "after": None}},
       lambda r: {**r, "payload": {**r["payload"], "after": {**(r["payload"]["after"] or {}), "id": "seven"}}},
       lambda r: {**r, "payload": {**r["payload"], "after": {k: "%%%" if k != "id" else v
                                                            for k, v in (r["payload"]["after"] or {"id": 1}).items()}}}]


@st.composite
def worlds(draw):
    """(batches of encoded records as (topic, [bytes]), a batch after which the state is pickled, merge config)."""
    kinds = draw(st.lists(st.sampled_from(["marked", "marked", "unmarked", "no_end", "no_tx", "snapshot"]),
                          min_size=1, max_size=5))
    schedule = draw(st.lists(st.integers(0, len(kinds) - 1), min_size=1, max_size=14))
    if draw(st.booleans()):
        schedule.sort()  # one transaction after the other (else interleaved)
    rows, changes = {}, {n: [] for n in range(len(kinds))}
    for lsn, n in enumerate(schedule, start=1000):
        table, ident = draw(st.sampled_from(sorted(COLUMNS))), draw(st.integers(1, 3))
        old = rows.get((table, ident))
        if kinds[n] == "snapshot":
            kind, before, after = "r", None, old or NEW[table](draw, ident)
        elif old is None:
            kind, before, after = "c", None, NEW[table](draw, ident)
        else:
            kind = draw(st.sampled_from(["u", "u", "noop", "toast", "move", "d"]))
            before, after = old, None if kind == "d" else dict(old)
            if kind == "u":
                after.update(NEW[table](draw, ident), id=ident)
            elif kind == "move":
                after[MOVE[table]] = NEW[table](draw, ident)[MOVE[table]]
            elif kind == "toast":  # an unchanged TOAST value: the placeholder, the row keeps its value
                after[TOAST[table]] = PLACEHOLDER
            if draw(st.integers(0, 3)) == 0:  # REPLICA IDENTITY DEFAULT: no old row (a delete: its key only)
                before = None if kind != "d" else {"id": ident, **dict.fromkeys(c["field"] for c in COLUMNS[table][1:])}
        if kind == "d":
            rows.pop((table, ident))
        elif kind != "toast":
            rows[(table, ident)] = after
        op = kind if kind in ("c", "d", "r") else "u"
        changes[n].append([table, op, before, after, lsn])
    topics = {topic: [] for topic in [*COLUMNS, "transaction"]}
    for n, kind in enumerate(kinds):
        if not (mine := changes[n]):
            continue
        txid, commit = 700 + n, 1764925200000 + n
        snapshot = draw(st.sampled_from(["true", "last", "first"])) if kind == "snapshot" else "false"
        block = f"{txid}:{mine[-1][4]}"
        per_table = {}
        for order, (table, op, before, after, lsn) in enumerate(mine, start=1):
            per_table[table] = per_table.get(table, 0) + 1
            tx = None if kind in ("no_tx", "snapshot") else (block, order, per_table[table])
            event = record(table, op, before, after, lsn, tx, commit, snapshot, None if kind == "no_tx" else txid)
            if draw(st.integers(0, 12)) == 0:
                event = draw(st.sampled_from(BAD))(event)
            topics[table].append((lsn, orjson.dumps(event)))
        if kind in ("marked", "no_end"):
            topics["transaction"].append((mine[0][4], orjson.dumps({"status": "BEGIN", "id": block})))
        if kind == "marked":
            end = {"status": "END", "id": block, "event_count": len(mine), "data_collections": [
                {"data_collection": f"public.{t}", "event_count": k} for t, k in sorted(per_table.items())]}
            if draw(st.booleans()):  # with its Connect schema
                end = {"schema": {"type": "struct", "name": "io.debezium.connector.common.TransactionMetadataValue"},
                       "payload": end}
            topics["transaction"].append((mine[-1][4] + 0.5, orjson.dumps(end)))
    queues, batches = {}, []
    for topic, items in topics.items():
        items = [raw for _, raw in sorted(items, key=lambda item: item[0])]
        if items and draw(st.integers(0, 3)) == 0:  # Kafka Connect sends a suffix again (at least once)
            items += items[draw(st.integers(0, len(items) - 1)):]
        queues.update({topic: items} if items else {})
    while queues:  # the topics read at their own pace: markers before or after their changes
        topic, size = draw(st.sampled_from(sorted(queues))), draw(st.integers(1, 4))
        items = queues.pop(topic)
        batches.append((topic, items[:size]))
        queues.update({topic: items[size:]} if items[size:] else {})
    config = {**DOMAIN, "markers": draw(st.booleans())}
    config = {k: v for k, v in config.items() if k != "group"} if draw(st.integers(0, 3)) == 0 else config
    return batches, draw(st.integers(-1, len(batches))), config


def run(batches, config, compact, restore_at=-1):
    """(released events, dead letters, the debezium step's outputs per batch) of the flow's calls."""
    debezium, merge = Debezium("changes", {}, None), MergeTransactions("merge", config, None)
    if compact:
        debezium.compact_later(merge.compact_keys)
    logic, released, deads, outputs = merge.logic(), [], [], []
    for number, (topic, raws) in enumerate(batches):
        now = T0 + timedelta(seconds=number)
        events = [orjson.loads(raw) for raw in raws]  # (each side its own objects: converted in place)
        if topic != "transaction":
            loaded, (events, failed) = list(events), debezium.process_owned(events)
            deads += failed
            refused = {id(d.event) for d in failed}
            kept = [raw for raw, event in zip(raws, loaded, strict=True) if id(event) not in refused]
            outputs += zip([e if type(e) is tuple else dict(e) for e in events], kept, strict=True)  # (slimmed later)
        groups, failed = merge.group_events_owned(list(events))
        deads += failed
        for _, group in groups:
            out, failed = logic.add(group, now)
            released += out
            deads += failed
        if number == restore_at:
            logic = merge.logic(pickle.loads(pickle.dumps(logic.state())))
            logic.resume(now)
    out, failed = logic.flush()
    return released + out, deads + failed, outputs


def the_same(on, off):
    assert on == off and repr(on) == repr(off)  # (repr: key order and types too: 1, 1.0, True, Decimal)


@PROPERTY
@given(worlds())
def test_compact_changes_release_the_same_events_and_dead_letters(world):
    batches, restore_at, config = world
    on, on_deads, on_outputs = run(batches, config, True, restore_at)
    off, off_deads, off_outputs = run(batches, config, False, restore_at)
    the_same(on, off)
    the_same([(d.step, d.error, d.event) for d in on_deads], [(d.step, d.error, d.event) for d in off_deads])
    assert all(type(d.event) is dict for d in on_deads)
    assert all(type(e) is dict and all(type(c) is dict for c in e["changes"]) for e in on)
    row, group = MergeTransactions("merge", config, None).key_functions()
    group = group or row  # (the compact change's group key: the row's without ``group``)
    for (compacted, raw), (plain, _) in zip(on_outputs, off_outputs, strict=True):  # a tuple exactly for the usual
        usual = plain["op"] in "cud" and plain["tx_id"] is not None and plain["source"].get("snapshot") in STREAMING
        if type(compacted) is tuple:
            assert usual and compacted[ROW] == row(plain) and compacted[GROUP] == group(plain)
            the_same(as_dict(compacted), {k: v for k, v in plain.items() if k not in SLIMMED})
        else:
            the_same(compacted, plain)
            # the usual change: a key failed, or its rows are not converted in place (process_owned decodes a copy)
            in_place = partial(Debezium("changes", {}, None).decode, owned=True)
            assert not usual or fails(row, plain) or fails(group, plain) or fails(in_place, orjson.loads(raw))
    restored, restored_deads, _ = run(batches, config, True)  # a restore changes nothing either
    the_same(restored, on)
    the_same([(d.error, d.event) for d in restored_deads], [(d.error, d.event) for d in on_deads])


def fails(key, change):
    try:
        key(change)
    except Exception:  # noqa: BLE001
        return True


def linked(config=None):
    merge = MergeTransactions("merge", config or DOMAIN, None)
    debezium = Debezium("changes", {}, None)
    debezium.compact_later(merge.compact_keys)
    return debezium


ORDER = {"id": 1, "total": b64(12345), "placed": 1764925200000000, "status": "new"}


def test_the_usual_streamed_update_reaches_the_merge_as_a_compact_change():
    raw = orjson.dumps(record("orders", "u", ORDER, {**ORDER, "status": "sent"}, 1000, ("700:1000", 1, 1), txid=700))
    (change,), deads = linked().process_owned([orjson.loads(raw)])
    assert not deads and type(change) is tuple and change[ROW] == "orders:1" and change[GROUP] == "1"
    assert as_dict(change)["after"] == {"id": 1, "total": Decimal("123.45"), "status": "sent",
                                        "placed": datetime(2025, 12, 5, 9, 0, tzinfo=timezone.utc)}
    (plain,), _ = Debezium("changes", {}, None).process_owned([orjson.loads(raw)])
    assert type(plain) is dict and as_dict(change) == {k: v for k, v in plain.items() if k not in SLIMMED}


def test_snapshot_reads_changes_without_a_transaction_truncates_and_failing_keys_stay_dicts():
    note = {"id": 1, "ref": "x", "body": "b", "written": None}  # int('x'): the notes' group key fails
    records = [record("orders", "r", None, ORDER, 1, snapshot="true", txid=700),
               record("orders", "c", None, ORDER, 2, txid=None),
               record("orders", "t", None, None, 3, ("700:3", 1, 1), txid=700),
               record("notes", "c", None, note, 4, ("700:4", 1, 1), txid=700),
               record("notes", "c", None, {**note, "ref": "2"}, 5, ("700:5", 1, 1), txid=700)]
    events, deads = linked().process_owned(records)
    assert not deads and [type(e) for e in events] == [dict, dict, dict, dict, tuple]


def test_keys_reading_more_than_the_table_and_rows_give_no_compact_keys():
    assert MergeTransactions("merge", DOMAIN, None).compact_keys() is not None
    for config in ({"row": "table + op + str(after.id)"}, {**DOMAIN, "group": "str(lsn)"},
                   {**DOMAIN, "row": "source.table + str(after.id)"}, {"group": "tx_id"}):
        assert MergeTransactions("merge", config, None).compact_keys() is None
    assert not MergeTransactions("merge", {"row": "source.table + str(after.id)"}, None).slims


def test_the_compiler_links_the_domain_flows_debezium_step_only_when_the_merge_alone_reads_it(tmp_path):
    (tmp_path / "technical").mkdir()
    for name in ("transport_order", "note", "handling_unit", "order_stop", "leg_order", "transaction"):
        (tmp_path / "technical" / f"{name}.jsonl").write_text("")
    env = {"VF_TMS": str(tmp_path), "VF_OUT": str(tmp_path / "out")}
    text = pathlib.Path("topologies/velocity/transport_order_domain.yaml").read_text()
    second = text.replace("sinks:\n  domain-events:", f"sinks:\n  raw:\n    from: changes\n    file: {{path: "
                          f"'{tmp_path}/raw.jsonl'}}\n  domain-events:", 1)
    assert second != text
    for body, compact in ((text, True), (second, False)):
        path = tmp_path / "flow.yaml"
        path.write_text(body)
        result = validate_file(str(path), env=env)
        assert result.ok, [d.message for d in result.diagnostics]
        compile_topology(result.topology)
        changes = next(step for step in result.topology.steps if step.id == "changes")
        assert changes.operator.compacts() is compact
        assert changes.operator._keys is None  # the keys' code is made at the first batch, not at start-up
        if compact:
            changes.operator.process_owned([])
            assert changes.operator._keys is not None


def test_a_table_without_converted_columns_gives_compact_changes_too():
    # its in-place code was an empty try block that did not compile: every change decoded a copy
    plain = {"type": "struct", "optional": True, "fields": [column("id", "int32"), column("name", "string")]}
    schema = {"type": "struct", "fields": [{**plain, "field": "before"}, {**plain, "field": "after"}]}
    event = {**record("orders", "c", None, {"id": 1, "name": "a"}, 9, ("7:9", 1, 1), txid=7), "schema": schema}
    (change,), deads = linked({"row": ROW_KEY}).process_owned([event])
    assert not deads and type(change) is tuple
    assert as_dict(change)["after"] == {"id": 1, "name": "a"} and change[ROW] == "orders:1"
