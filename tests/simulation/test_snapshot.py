"""The simulator under real CDC conditions: an initial snapshot before streaming, handling units
moved between orders, and the envelope Debezium 3.x writes (docs/tms.md)."""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from engine.simulation import generate
from engine.simulation.schema import TABLE_NAMES, TABLES
from tests.simulation.test_tms import _derive_business_events, decode_row, read_lines, truth

ORDERS, SEED, SNAPSHOT_AFTER = 60, 5, 40
MARKERS = {"first", "first_in_data_collection", "true", "last_in_data_collection", "last"}
ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def cdc(tmp_path_factory):
    out = tmp_path_factory.mktemp("tms_cdc")
    return out, generate(str(out), ORDERS, SEED, with_schema=True, snapshot_after=SNAPSHOT_AFTER,
                         key_moves=True)


@pytest.fixture(scope="module")
def cdc_plain(tmp_path_factory):
    out = tmp_path_factory.mktemp("tms_cdc_plain")
    return out, generate(str(out), ORDERS, SEED, snapshot_after=SNAPSHOT_AFTER, key_moves=True)


def payloads(out, table):
    return [x.get("payload", x) for x in read_lines(out / "technical" / f"{table}.jsonl") if x is not None]


def reads(out):
    """The snapshot's records in the order the connector emitted them (tables in TableId order)."""
    return [(t, e) for t in sorted(TABLE_NAMES) for e in payloads(out, t) if e["op"] == "r"]


def streamed(out):
    merged = [(t, e) for t in TABLE_NAMES for e in payloads(out, t) if e["op"] != "r"]
    return sorted(merged, key=lambda te: te[1]["source"]["lsn"])


def test_the_snapshot_comes_first_as_reads_without_transaction_metadata(cdc):
    out, summary = cdc
    records = reads(out)
    assert sum(summary.snapshot_rows.values()) == len(records) > 50
    for table in TABLE_NAMES:  # a table topic holds its reads, then the streamed changes
        ops = [e["op"] for e in payloads(out, table)]
        assert ops == ["r"] * ops.count("r") + [op for op in ops if op != "r"]
        assert ops.count("r") == summary.snapshot_rows[table]
    (tx_id,) = {e["source"]["txId"] for _, e in records}
    (lsn,) = {e["source"]["lsn"] for _, e in records}
    for _, e in records:
        assert e["before"] is None and e["after"] is not None and e["transaction"] is None
        assert e["source"]["sequence"] == f'[null,"{lsn}"]'   # no commit seen yet by the connector
        assert e["source"]["snapshot"] in MARKERS
    stream = streamed(out)
    assert all(e["source"]["lsn"] > lsn and e["source"]["txId"] > tx_id for _, e in stream)
    read_times = [e["source"]["ts_us"] for _, e in records]
    assert read_times == sorted(read_times) and read_times[-1] < stream[0][1]["source"]["ts_us"]
    # no BEGIN/END for the snapshot: every transaction record belongs to a streamed transaction
    ids = {int(r["payload"]["id"].split(":")[0]) for r in read_lines(out / "technical" / "transaction.jsonl")}
    assert tx_id not in ids and ids == {e["source"]["txId"] for _, e in stream}
    assert summary.transactions == len(ids)


def test_snapshot_markers_follow_relational_snapshot_change_event_source(cdc):
    out, _ = cdc
    records = reads(out)
    tables = sorted(TABLE_NAMES)
    expected = []
    for t_index, table in enumerate(tables):
        n = sum(1 for t, _ in records if t == table)
        for i in range(n):
            if t_index == len(tables) - 1 and i == n - 1:
                expected.append("last")
            elif t_index == 0 and i == 0:
                expected.append("first")
            elif i == n - 1:
                expected.append("last_in_data_collection")
            elif i == 0:
                expected.append("first_in_data_collection")
            else:
                expected.append("true")
    assert [e["source"]["snapshot"] for _, e in records] == expected
    assert expected[0] == "first" and expected[-1] == "last"


def test_streaming_changes_and_deletes_rows_read_by_the_snapshot(cdc):
    out, _ = cdc
    snapshot = {}
    for table, e in reads(out):
        keys = TABLES[table].primary_key
        snapshot[(table, tuple(e["after"][k] for k in keys))] = e["after"]
    updated, deleted = Counter(), Counter()
    seen = set()
    for table, e in streamed(out):
        row = e["before"] or e["after"]
        ident = (table, tuple(row[k] for k in TABLES[table].primary_key))
        if ident in snapshot and ident not in seen and e["op"] != "c":
            assert e["before"] == snapshot[ident]   # streaming continues exactly where the snapshot read
            (updated if e["op"] == "u" else deleted)[table] += 1
        seen.add(ident)
    assert updated["transport_order"] and updated["pickup"] and updated["trip"] and updated["handling_unit"]
    assert sum(deleted.values()) >= 1


@pytest.mark.parametrize("variant", ["cdc", "cdc_plain"])
def test_replaying_snapshot_and_stream_gives_the_truth(variant, request):
    out, summary = request.getfixturevalue(variant)
    schema_of = {}
    if variant == "cdc":
        for table in TABLE_NAMES:
            first = next(x for x in read_lines(out / "technical" / f"{table}.jsonl") if x is not None)
            schema_of[table] = first["schema"]["fields"][1]["fields"]
    for table in TABLE_NAMES:
        keys, state = TABLES[table].primary_key, {}
        for e in payloads(out, table):
            before, after = e["before"], e["after"]
            if table in schema_of:
                before, after = decode_row(schema_of[table], before), decode_row(schema_of[table], after)
            row = after or before
            key = tuple(row[k] for k in keys)
            if e["op"] in ("r", "c"):
                assert key not in state
                state[key] = after
            elif e["op"] == "u":
                assert state[key] == before
                state[key] = after
            else:
                assert state.pop(key) == before
        if table in schema_of:
            assert state == {tuple(r[k] for k in keys): r for r in truth(out, table)}, table
        else:
            assert len(state) == summary.rows[table]


def test_payloads_are_the_same_with_and_without_schema(cdc, cdc_plain):
    for table in TABLE_NAMES:
        assert payloads(cdc[0], table) == payloads(cdc_plain[0], table)


def test_business_events_come_from_streamed_transactions_only(cdc):
    out, summary = cdc
    expected = read_lines(out / "truth" / "business_events.jsonl")
    snapshot_tx = {e["source"]["txId"] for _, e in reads(out)}
    assert expected and not {e["tx_id"] for e in expected} & snapshot_tx
    assert expected == _derive_business_events(out)   # the rules applied to streamed events
    assert sum(summary.business_events.values()) == len(expected)


def test_timestamptz_has_six_fractional_digits_and_sequence_is_a_json_array(cdc):
    out, _ = cdc
    checked = fractions = 0
    for table in TABLE_NAMES:
        first = next(x for x in read_lines(out / "technical" / f"{table}.jsonl") if x is not None)
        zoned = [f["field"] for f in first["schema"]["fields"][1]["fields"]
                 if f.get("name") == "io.debezium.time.ZonedTimestamp"]
        for e in payloads(out, table):
            for row in (e["before"], e["after"]):
                for column in zoned if row else ():
                    if row[column] is not None:
                        assert ZONED.match(row[column]), row[column]
                        checked += 1
                        fractions += not row[column].endswith(".000000Z")
            last, lsn = json.loads(e["source"]["sequence"])
            assert lsn == str(e["source"]["lsn"]) and (last is None or int(last) < e["source"]["lsn"])
    assert checked > 1000 and fractions > checked // 4   # now() has microseconds


def test_the_first_streamed_transaction_has_no_previous_commit_then_each_names_the_last_end(cdc):
    out, _ = cdc
    ends = [r["payload"] for r in read_lines(out / "technical" / "transaction.jsonl")
            if r["payload"]["status"] == "END"]
    previous = {}
    last = None
    for end in ends:
        tx_id, lsn = (int(x) for x in end["id"].split(":"))
        previous[tx_id] = last
        last = str(lsn)
    for _, e in streamed(out):
        assert json.loads(e["source"]["sequence"])[0] == previous[e["source"]["txId"]]
    assert previous[int(ends[0]["id"].split(":")[0])] is None


def _chunk(order_id):
    return zlib.crc32(f"transport_order:{order_id}".encode()) % 2


def test_handling_units_move_between_orders_within_one_micro_batch_period(cdc):
    out, summary = cdc
    history = defaultdict(list)   # handling unit -> [(commit ms, order_id after the change)]
    for e in payloads(out, "handling_unit"):
        if e["op"] != "r" and e["after"]:
            history[e["after"]["id"]].append((e["source"]["ts_ms"], e["after"]["order_id"],
                                              e["before"]["order_id"] if e["before"] else None))
    cases = set()
    moved = 0
    for hu, changes in history.items():
        for ts, order, was in changes:
            if was is None or was == order:
                continue
            moved += 1
            window = [c for c in changes if abs(c[0] - ts) <= 5_000]
            assert len(window) >= 2, hu           # also changed under the other key nearby
            final = window[-1][1]                 # the domain key of the row's last change
            cases |= {(_chunk(c[1]), _chunk(final)) for c in window if c[1] != final}
    assert moved >= 4 and summary.key_moves >= 4
    assert {(0, 1), (1, 0)} <= cases                # the stale version under either chunk
    final_orders = {r["id"]: r["order_id"] for r in truth(out, "handling_unit")}
    for hu, changes in history.items():
        assert final_orders.get(hu, changes[-1][1]) == changes[-1][1]


def test_options_are_deterministic_and_a_late_snapshot_reads_everything(tmp_path, cdc):
    out, _ = cdc
    again = tmp_path / "again"
    generate(str(again), ORDERS, SEED, with_schema=True, snapshot_after=SNAPSHOT_AFTER, key_moves=True)
    for rel in sorted(p.relative_to(out) for p in out.rglob("*.jsonl")):
        assert (again / rel).read_bytes() == (out / rel).read_bytes(), rel
    late = tmp_path / "late"
    summary = generate(str(late), 3, SEED, snapshot_after=10_000)
    assert summary.transactions == 0 and summary.snapshot_rows == summary.rows
    assert not (late / "technical" / "transaction.jsonl").read_text()
    assert not (late / "truth" / "business_events.jsonl").read_text()
    with pytest.raises(ValueError):
        generate(str(tmp_path / "bad"), 3, SEED, snapshot_after=-1)


def test_without_options_nothing_is_a_snapshot(tmp_path):
    summary = generate(str(tmp_path), 10, SEED)
    assert not any(summary.snapshot_rows.values()) and summary.key_moves == 0
    for table in TABLE_NAMES:
        assert all(e["op"] != "r" and e["source"]["snapshot"] == "false" and e["transaction"]
                   for e in payloads(tmp_path, table))
    created = min(datetime.fromisoformat(r["created_at"][:-1]) for r in truth(tmp_path, "transport_order"))
    assert created.year == 2024
