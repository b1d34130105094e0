"""The TMS simulator: determinism, Debezium format, redundancy cases, ground-truth consistency."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.simulation import generate
from engine.simulation.schema import TABLE_NAMES, TABLES

ORDERS, SEED = 60, 11
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    out = tmp_path_factory.mktemp("tms_plain")
    return out, generate(str(out), ORDERS, SEED)


@pytest.fixture(scope="module")
def with_schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("tms_schema")
    return out, generate(str(out), ORDERS, SEED, with_schema=True)


def read_lines(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def events(out: Path, table: str):
    """Data change payloads of one table topic (tombstones dropped)."""
    return [e.get("payload", e) for e in read_lines(out / "technical" / f"{table}.jsonl")
            if e is not None]


def all_events(out: Path):
    """Every streamed data event of every table (snapshot reads left out), in commit order
    (txId, then total_order)."""
    merged = [(table, e) for table in TABLE_NAMES for e in events(out, table) if e["op"] != "r"]
    merged.sort(key=lambda te: (te[1]["source"]["txId"], te[1]["transaction"]["total_order"]))
    return merged


def by_tx(out: Path):
    grouped = defaultdict(list)
    for table, e in all_events(out):
        grouped[e["source"]["txId"]].append((table, e))
    return grouped


# --- a tiny, independent Debezium decoder ---------------------------------------------------

def decode_decimal(text: str, scale: int) -> Decimal:
    unscaled = int.from_bytes(base64.b64decode(text), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)


def decode_row(fields, row):
    """Debezium row -> the ground truth's plain JSON, driven by the Connect schema."""
    if row is None:
        return None
    out = {}
    for f in fields:
        v, name = row[f["field"]], f.get("name")
        if v is None:
            out[f["field"]] = None
        elif name == "org.apache.kafka.connect.data.Decimal":
            out[f["field"]] = str(decode_decimal(v, int(f["parameters"]["scale"])))
        elif name == "io.debezium.time.Date":
            out[f["field"]] = (date(1970, 1, 1) + timedelta(days=v)).isoformat()
        elif name == "io.debezium.time.MicroTimestamp":
            out[f["field"]] = (datetime(1970, 1, 1) + timedelta(microseconds=v)).isoformat()
        elif name == "io.debezium.time.ZonedTimestamp":
            assert v.endswith("Z"), v
            datetime.fromisoformat(v[:-1])      # must parse
            out[f["field"]] = v
        elif name == "io.debezium.data.Json":
            out[f["field"]] = json.loads(v)
        else:
            out[f["field"]] = v
    return out


def truth(out: Path, table: str):
    return read_lines(out / "truth" / "tables" / f"{table}.jsonl")


# --- tests -----------------------------------------------------------------------------------

def test_same_inputs_give_identical_bytes(tmp_path, plain):
    out, _ = plain
    again = tmp_path / "again"
    generate(str(again), ORDERS, SEED)
    files = sorted(p.relative_to(out) for p in out.rglob("*.jsonl"))
    assert len(files) == len(TABLE_NAMES) * 2 + 2
    for rel in files:
        assert (again / rel).read_bytes() == (out / rel).read_bytes(), rel
    other = tmp_path / "other"
    generate(str(other), ORDERS, SEED + 1)
    assert (other / "technical" / "transport_order.jsonl").read_bytes() != \
        (out / "technical" / "transport_order.jsonl").read_bytes()


def test_every_table_gets_events_and_summary_counts_them(plain):
    out, summary = plain
    for table in TABLE_NAMES:
        evs = events(out, table)
        assert evs, table
        assert len(evs) == summary.change_events[table]
        assert all(e["source"]["table"] == table and e["op"] in ("c", "u", "d") for e in evs)
    ops = Counter(e["op"] for _, e in all_events(out))
    assert ops["c"] and ops["u"] and ops["d"]
    assert summary.transactions == len(by_tx(out))
    assert summary.business_events["ShipmentDelivered"] > 0
    assert summary.business_events["PickupFailed"] > 0


def test_tombstone_follows_every_delete(plain):
    out, summary = plain
    for table in TABLE_NAMES:
        lines = read_lines(out / "technical" / f"{table}.jsonl")
        for i, line in enumerate(lines):
            if line is None:
                assert lines[i - 1] is not None and lines[i - 1]["op"] == "d"
            elif line["op"] == "d":
                assert lines[i + 1] is None
                assert line["after"] is None and line["before"] is not None
        assert sum(1 for x in lines if x is None) == summary.tombstones[table]


def test_note_edit_is_delete_plus_insert_in_one_transaction(plain):
    out, _ = plain
    found = 0
    for tx, evs in by_tx(out).items():
        notes = [e for t, e in evs if t == "note"]
        deleted = {e["before"]["id"]: e for e in notes if e["op"] == "d"}
        for e in notes:
            if e["op"] == "c" and e["after"]["id"] in deleted:
                d = deleted[e["after"]["id"]]
                assert d["transaction"]["total_order"] < e["transaction"]["total_order"]
                assert d["before"]["body"] != e["after"]["body"]
                found += 1
    assert found >= 1


def test_repeated_updates_of_one_row_in_one_transaction(plain):
    out, _ = plain
    repeated = Counter()
    for tx, evs in by_tx(out).items():
        per_row = Counter((t, e["after"]["id"] if "id" in e["after"] else None)
                          for t, e in evs if e["op"] == "u")
        for (table, _), n in per_row.items():
            if n >= 2:
                repeated[table] += 1
    assert repeated["transport_order"] >= 1     # weight recomputed per handling unit
    assert repeated["leg"] >= 1                 # load recomputed per loaded handling unit


def test_no_op_updates_exist(plain):
    out, _ = plain
    noops = Counter(t for t, e in all_events(out) if e["op"] == "u" and e["before"] == e["after"])
    assert noops["trip"] >= 1 and noops["transport_order"] >= 1


def test_transaction_metadata_matches_data_events(plain):
    out, _ = plain
    records = read_lines(out / "technical" / "transaction.jsonl")
    grouped = by_tx(out)
    assert len(records) == 2 * len(grouped)
    last_tx, last_lsn = -1, -1
    for begin, end in zip(records[0::2], records[1::2]):
        assert begin["status"] == "BEGIN" and end["status"] == "END"
        assert begin["event_count"] is None and begin["data_collections"] is None
        tx_id = int(begin["id"].split(":")[0])
        assert tx_id == int(end["id"].split(":")[0]) > last_tx
        last_tx = tx_id
        evs = grouped[tx_id]
        lsns = [e["source"]["lsn"] for _, e in evs]
        begin_lsn, end_lsn = int(begin["id"].split(":")[1]), int(end["id"].split(":")[1])
        assert last_lsn < begin_lsn < lsns[0] and lsns == sorted(set(lsns)) and lsns[-1] < end_lsn
        last_lsn = end_lsn
        assert end["event_count"] == len(evs)
        expected = Counter("public." + t for t, _ in evs)
        assert {d["data_collection"]: d["event_count"] for d in end["data_collections"]} == expected
        assert [e["transaction"]["total_order"] for _, e in evs] == list(range(1, len(evs) + 1))
        per_table = Counter()
        for t, e in evs:
            per_table[t] += 1
            assert e["transaction"]["data_collection_order"] == per_table[t]
            assert e["transaction"]["id"] == f"{tx_id}:{e['source']['lsn']}"
            assert e["source"]["ts_ms"] == end["ts_ms"]


def test_payload_is_the_same_with_and_without_schema(plain, with_schema):
    out, _ = plain
    out_s, _ = with_schema
    for table in TABLE_NAMES:
        wrapped = [x for x in read_lines(out_s / "technical" / f"{table}.jsonl") if x is not None]
        assert [w["payload"] for w in wrapped] == events(out, table)
        schema = wrapped[0]["schema"]
        assert schema["name"] == f"tms.public.{table}.Envelope"
        assert [f["field"] for f in schema["fields"]] == [
            "before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]
        assert [f["field"] for f in schema["fields"][1]["fields"]] == TABLES[table].column_names
    tx = read_lines(out_s / "technical" / "transaction.jsonl")[1]
    assert tx["schema"]["name"] == "io.debezium.connector.common.TransactionMetadataValue"
    assert tx["payload"]["status"] == "END"


def test_decimals_round_trip_to_the_truth(with_schema):
    out, _ = with_schema
    checked = 0
    for table in ("transport_order", "handling_unit", "leg", "trip", "leg_order"):
        fields = read_lines(out / "technical" / f"{table}.jsonl")[0]["schema"]["fields"][1]["fields"]
        decimals = {f["field"]: int(f["parameters"]["scale"]) for f in fields
                    if f.get("name") == "org.apache.kafka.connect.data.Decimal"}
        assert decimals
        keys = TABLES[table].primary_key
        last = {}
        for e in events(out, table):
            row = e["after"] or e["before"]
            last[tuple(row[k] for k in keys)] = e["after"]
        for row in truth(out, table):
            encoded = last[tuple(row[k] for k in keys)]
            for column, scale in decimals.items():
                if row[column] is None:
                    continue
                decoded = decode_decimal(encoded[column], scale)
                assert decoded == Decimal(row[column]) and str(decoded) == row[column]
                checked += 1
    assert checked > 100
    # the encoding itself, against hand-computed Java BigInteger.toByteArray values
    from engine.simulation.connector_encoding import decimal_to_base64
    assert decimal_to_base64(Decimal("0.000"), 3) == "AA=="
    assert decimal_to_base64(Decimal("1.28"), 2) == base64.b64encode(b"\x00\x80").decode()
    assert decimal_to_base64(Decimal("-1.28"), 2) == base64.b64encode(b"\x80").decode()
    assert decimal_to_base64(Decimal("-1.29"), 2) == base64.b64encode(b"\xff\x7f").decode()


def test_replaying_the_technical_events_gives_the_truth_tables(with_schema):
    out, summary = with_schema
    for table in TABLE_NAMES:
        keys = TABLES[table].primary_key
        state = {}
        for line in read_lines(out / "technical" / f"{table}.jsonl"):
            if line is None:
                continue
            fields = line["schema"]["fields"][1]["fields"]
            e = line["payload"]
            before, after = decode_row(fields, e["before"]), decode_row(fields, e["after"])
            if e["op"] == "c":
                key = tuple(after[k] for k in keys)
                assert key not in state
                state[key] = after
            elif e["op"] == "u":
                key = tuple(after[k] for k in keys)
                assert state[key] == before          # REPLICA IDENTITY FULL: whole old row
                state[key] = after
            else:
                key = tuple(before[k] for k in keys)
                assert state.pop(key) == before
        expected = {tuple(r[k] for k in keys): r for r in truth(out, table)}
        assert state == expected, table
        assert len(expected) == summary.rows[table]


def _derive_business_events(out: Path):
    """The business-event rules of docs/tms.md, applied to the technical events alone."""
    derived = []
    for tx_id, evs in sorted(by_tx(out).items()):
        first_before, last_after, order = {}, {}, []
        for table, e in evs:
            row = e["after"] or e["before"]
            ident = (table, row["id"] if "id" in row else tuple(sorted(row.items())))
            if ident not in first_before:
                first_before[ident] = e["before"]
                order.append(ident)
            last_after[ident] = e["after"]
        ts_ms = evs[0][1]["source"]["ts_ms"]
        for ident in order:
            table, before, after = ident[0], first_before[ident], last_after[ident]
            if after is None:
                continue
            was = before.get("status") if before else None

            def emit(kind, **fields):
                derived.append({"type": kind, **fields, "tx_id": tx_id, "ts_ms": ts_ms})

            if table == "pickup":
                if after["status"] == "completed" and was != "completed":
                    emit("PickupCompleted", pickup_id=after["id"], order_id=after["order_id"],
                         completed_at=after["completed_at"])
                if after["status"] == "failed" and was != "failed":
                    emit("PickupFailed", pickup_id=after["id"], order_id=after["order_id"],
                         reason=after["failure_reason"], failed_at=after["failed_at"])
            elif table == "transport_order":
                if after["status"] == "in_transit" and was != "in_transit":
                    emit("ShipmentDeparted", order_id=after["id"], trip_id=after["trip_id"],
                         departed_at=after["departed_at"])
                prev = before["eta"] if before else None
                if after["eta"] is not None and after["eta"] != prev:
                    eta = datetime.fromisoformat(after["eta"].replace("Z", "+00:00"))
                    plan = datetime.fromisoformat(after["planned_delivery_at"].replace("Z", "+00:00"))
                    emit("EtaUpdated", order_id=after["id"], eta=after["eta"], previous_eta=prev,
                         delay_minutes=int((eta - plan).total_seconds() // 60))
                if after["status"] == "delivered" and was != "delivered":
                    emit("ShipmentDelivered", order_id=after["id"],
                         delivered_at=after["delivered_at"])
    return derived


def test_business_events_follow_from_the_technical_events(plain):
    out, summary = plain
    expected = read_lines(out / "truth" / "business_events.jsonl")
    assert expected == _derive_business_events(out)
    assert Counter(e["type"] for e in expected) == Counter(
        {k: v for k, v in summary.business_events.items() if v})
    # every delivered order departed first, and on the trip recorded in the truth table
    departed = {e["order_id"]: e for e in expected if e["type"] == "ShipmentDeparted"}
    orders = {r["id"]: r for r in truth(out, "transport_order")}
    for e in expected:
        if e["type"] == "ShipmentDelivered":
            assert e["order_id"] in departed
            assert departed[e["order_id"]]["tx_id"] < e["tx_id"]
            assert orders[e["order_id"]]["status"] == "delivered"
            assert departed[e["order_id"]]["trip_id"] == orders[e["order_id"]]["trip_id"]
    # a no-op ETA rewrite must not produce an EtaUpdated: every one changes the value
    assert all(e["eta"] != e["previous_eta"] for e in expected if e["type"] == "EtaUpdated")


def test_python_model_mirrors_the_ddl():
    ddl = (ROOT / "schemas" / "tms" / "tms.sql").read_text(encoding="utf-8")
    tables = dict(re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", ddl, re.S))
    assert sorted(tables) == sorted(TABLE_NAMES)
    for name, body in tables.items():
        columns = []
        for line in body.splitlines():
            m = re.match(r"\s{4}(\w+)\s+(uuid|text|char\(\d\)|date|timestamptz|timestamp|"
                         r"numeric\(\d+,\d\)|smallint|integer|bigint|jsonb)(?=[\s,]|$)(.*)", line)
            if m:
                columns.append((m.group(1), m.group(2), "NOT NULL" not in m.group(3)
                                and "PRIMARY KEY" not in m.group(3)))
        model = [(c.name, c.pg_type, c.nullable) for c in TABLES[name].columns]
        assert columns == model, name
        assert re.search(rf"ALTER TABLE {name}\s+REPLICA IDENTITY FULL;", ddl), name
