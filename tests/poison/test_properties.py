"""Property-based poison (Hypothesis): generated malformed inputs through the decode, cast,
Debezium and merge_transactions paths, end to end through the CLI on small topologies written
here, and directly through the operators as the compiler builds them (registry + public
``process`` / ``group`` / ``logic`` API).

Properties: the flow exits 0 with no traceback; every input line is either in the sink or in
the dead letters, exactly once; operators never raise for a bad event and account for every
event they are given.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.operators.decode import Decode
try:  # the compiler runs every stateless step and decode inside this boundary
    from engine.operators.boundary import guard, raw_values
except ImportError:  # pragma: no cover - an engine without the boundary: the operators alone
    def guard(step_id, process, pieces=None):
        return process

    raw_values = None
from engine.catalog import component
from engine.records import DeadLetter, RawBatch
from tests.poison.harness import FORBIDDEN, ROOT

# each example is one CLI run (~0.5 s): few examples, and no shrinking (minutes of reruns on a failure)
E2E = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
               phases=(Phase.explicit, Phase.reuse, Phase.generate))
UNIT = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

NASTY_TEXT = st.sampled_from([
    "", " ", "1_000", "١٢٣", "NaN", "-Infinity", "1e400", "12345678901234567890123", "-0", "0x10", "1.5", "abc",
    "9999-12-31T23:59:59.999999Z", "0001-01-01T00:30:00+01:00", "2024-02-30T00:00:00Z", "2024-13-45", "24:00:00",
    "\u0000", "\ud800", "\ufeff1", "true", "yes", "null", "{not json", "[" * 300, "x" * 5000])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), NASTY_TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12)


def _dumps(value) -> bytes:
    """JSON as a producer might write it: NaN/Infinity literals, lone surrogates as escapes."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def json_lines(draw, fields):
    """(line bytes, kind) pairs: objects tagged with their index "i", and malformed lines."""
    count = draw(st.integers(min_value=1, max_value=30))
    lines = []
    for index in range(count):
        kind = draw(st.sampled_from(["object", "object", "object", "garbage", "scalar", "deep", "truncated"]))
        if kind == "object":
            event = {name: draw(VALUES) for name in fields if draw(st.booleans())}
            event["i"] = index
            line = _dumps(event)
        elif kind == "garbage":
            line = draw(st.binary(min_size=1, max_size=40)).replace(b"\n", b" ").replace(b"\r", b" ")
            try:
                parsed = orjson.loads(line)
            except orjson.JSONDecodeError:
                parsed = ...
            if not line.strip() or type(parsed) is dict:
                line = b"{\x00"
        elif kind == "scalar":
            line = _dumps(draw(st.one_of(SCALARS, st.lists(SCALARS, max_size=3))))
            if not line.strip():
                line = b"0"
        elif kind == "deep":
            line = ('{"i":%d,"deep":%s}' % (index, _nested(draw(st.sampled_from([100, 254, 255, 256, 1000, 1025, 3000]))))).encode()
        else:
            whole = _dumps({"i": index, **{name: draw(VALUES) for name in fields}})
            line = whole[:draw(st.integers(min_value=1, max_value=max(1, len(whole) - 1)))]
            if not line.strip():
                line = b"{"
        lines.append(line)
    return lines


def _run(topology_yaml: str, files: dict, tmp: pathlib.Path):
    (tmp / "in").mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (tmp / "in" / name).write_bytes(b"".join(line + b"\n" for line in lines))
    path = tmp / "topology.yaml"
    path.write_text(topology_yaml)
    env = dict(os.environ, VF_IN=str(tmp / "in"), VF_OUT=str(tmp / "out"))
    proc = subprocess.run([sys.executable, "-m", "cli", "run", "-q", str(path)], cwd=ROOT, env=env,
                          capture_output=True, timeout=120)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, f"exit {proc.returncode}: {' '.join(stderr.split())[-600:]} {proc.stdout.decode()[-300:]}"
    for forbidden in FORBIDDEN:
        assert forbidden not in stderr, stderr[-600:]

    def read(name):
        file = tmp / "out" / name
        # split at newlines only: str.splitlines() also splits at U+0085 / U+2028, which JSON strings may hold raw
        return [json.loads(line) for line in file.read_text().split("\n") if line.strip()] if file.exists() else []

    return read


def _line_of(dead: dict, path: pathlib.Path):
    origin = dead.get("origin") or ""
    prefix = f"{path}:"
    if origin.startswith(prefix):
        return int(origin[len(prefix):]) - 1
    event = dead.get("event")
    if isinstance(event, dict) and type(event.get("i")) is int:
        return event["i"]
    return None


CAST_TOPOLOGY = """
version: 1
name: poison-cast-props
sources:
  lines: {file: {path: "${VF_IN}/lines.jsonl", batch_size: 7}}
steps:
  - id: parse
    cast: {fields: {n: int, amount: "decimal(10,2)", at: timestamp, ms: "timestamp(ms)", flag: bool, day: date, doc: json}}
sinks:
  out: {from: parse, file: {path: "${VF_OUT}/out.jsonl"}}
dead_letter: {file: {path: "${VF_OUT}/dead.jsonl"}}
"""


@E2E
@given(json_lines(["n", "amount", "at", "ms", "flag", "day", "doc", "other"]))
def test_e2e_decode_and_cast_account_for_every_line(lines):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        read = _run(CAST_TOPOLOGY, {"lines.jsonl": lines}, tmp)
        seen = [0] * len(lines)
        for event in read("out.jsonl"):
            seen[event["i"]] += 1
        unplaced = []
        for dead in read("dead.jsonl"):
            assert str(dead.get("error") or "").strip(), dead
            index = _line_of(dead, tmp / "in" / "lines.jsonl")
            if index is None:
                unplaced.append(dead)
            else:
                seen[index] += 1
        assert not unplaced, f"dead letters that name no line: {unplaced[:2]}"
        wrong = {i: (n, lines[i][:120]) for i, n in enumerate(seen) if n != 1 and not (n == 0 and lines[i] == b"null")}
        assert not wrong, f"lines not in the sink or the dead letters exactly once: {wrong}"


# --- Debezium -> merge_transactions end to end ---------------------------------------------

MERGE_TOPOLOGY = """
version: 1
name: poison-merge-props
sources:
  rows: {file: {path: "${VF_IN}/rows.jsonl", batch_size: 5}}
  transactions: {file: {path: "${VF_IN}/transactions.jsonl", batch_size: 3}}
steps:
  - id: changes
    from: rows
    debezium: {}
  - id: per-transaction
    from: [changes, transactions]
    merge_transactions: {markers: true, tables: [pickup], idle: 30s}
sinks:
  out: {from: per-transaction, file: {path: "${VF_OUT}/out.jsonl"}}
dead_letter: {file: {path: "${VF_OUT}/dead.jsonl"}}
"""

SCHEMA = {"type": "struct", "name": "tms.public.pickup.Envelope", "optional": False, "fields": [
    {"field": "before", "type": "struct", "optional": True, "name": "tms.public.pickup.Value", "fields": [
        {"field": "id", "type": "string", "optional": False}, {"field": "w", "type": "bytes", "optional": True,
         "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}},
        {"field": "at", "type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp"},
        {"field": "doc", "type": "string", "optional": True, "name": "io.debezium.data.Json"}]},
    {"field": "after", "type": "struct", "optional": True, "name": "tms.public.pickup.Value", "fields": [
        {"field": "id", "type": "string", "optional": False}, {"field": "w", "type": "bytes", "optional": True,
         "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}},
        {"field": "at", "type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp"},
        {"field": "doc", "type": "string", "optional": True, "name": "io.debezium.data.Json"}]},
    {"field": "op", "type": "string", "optional": False}]}


def _change(row_id: str, tx: int, w="AOY=", at=1709528524000000, doc='{"a": 1}') -> dict:
    return {"before": None, "after": {"id": row_id, "w": w, "at": at, "doc": doc},
            "source": {"table": "pickup", "txId": tx, "lsn": 1000 + tx, "ts_ms": 1709528524000},
            "transaction": {"id": f"{tx}:{1000 + tx}", "total_order": 1, "data_collection_order": 1},
            "op": "c", "ts_ms": 1709528524350}


MUTABLE = [("op",), ("source",), ("source", "txId"), ("source", "table"), ("after",), ("after", "w"), ("after", "at"),
           ("after", "doc"), ("after", "id"), ("before",), ("transaction",), ("ts_ms",)]


@st.composite
def debezium_inputs(draw):
    """Row lines (each change a distinct row, so no net change cancels out) and marker lines."""
    txs = draw(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=15))
    rows, counts = [], {}
    for index, tx in enumerate(txs):
        event = _change(f"r{index}", tx)
        if draw(st.integers(min_value=0, max_value=3)) == 0:  # one malformed field
            path = draw(st.sampled_from(MUTABLE))
            node = event
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = draw(st.one_of(VALUES, st.just(_nested(draw(st.sampled_from([300, 1500]))))))
        else:
            counts[tx] = counts.get(tx, 0) + 1
        if draw(st.booleans()):
            event = {"schema": SCHEMA, "payload": event}
        rows.append(_dumps(event))
    markers = []
    for tx in sorted(set(txs)):
        if draw(st.booleans()):
            markers.append(_dumps({"status": "BEGIN", "id": f"{tx}:1", "event_count": None, "data_collections": None, "ts_ms": 1}))
        end = {"status": "END", "id": f"{tx}:2", "event_count": counts.get(tx, 0), "ts_ms": 1,
               "data_collections": [{"data_collection": "public.pickup", "event_count": counts.get(tx, 0)}]}
        if draw(st.integers(min_value=0, max_value=2)) == 0:  # a malformed END
            key = draw(st.sampled_from(["event_count", "data_collections", "id", "status"]))
            end[key] = draw(st.one_of(VALUES, st.just([{"data_collection": draw(VALUES), "event_count": draw(VALUES)}])))
        if draw(st.integers(min_value=0, max_value=4)):  # sometimes no END at all
            markers.append(_dumps(end))
    markers += draw(st.lists(st.sampled_from([b"[]", b"null", b"{", b'"END"', b'{"status":"END"}']), max_size=2))
    order = draw(st.permutations(range(len(markers))))
    return rows, [markers[i] for i in order]


@E2E
@given(debezium_inputs())
def test_e2e_debezium_and_merge_transactions_lose_no_change(inputs):
    rows, markers = inputs
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        read = _run(MERGE_TOPOLOGY, {"rows.jsonl": rows, "transactions.jsonl": markers}, tmp)
        seen = [0] * len(rows)
        for event in read("out.jsonl"):
            for change in event["changes"]:
                row_id = str((change.get("after") or change.get("before") or {}).get("id"))
                assert change.get("merged") == 1, change
                if row_id.startswith("r") and row_id[1:].isdigit() and int(row_id[1:]) < len(rows):
                    seen[int(row_id[1:])] += 1
        rows_path = str(tmp / "in" / "rows.jsonl") + ":"
        for dead in read("dead.jsonl"):
            assert str(dead.get("error") or "").strip(), dead
            origin, event = dead.get("origin") or "", dead.get("event")
            if origin.startswith(rows_path):
                seen[int(origin[len(rows_path):]) - 1] += 1
                continue
            text = json.dumps(event, default=str)
            if '"status"' in text and '"op"' not in text or not isinstance(event, dict):
                continue  # a malformed transaction record (or a row line that did not decode: origin above)
            payload = event.get("payload") if isinstance(event.get("payload"), dict) else event
            after = payload.get("after") if isinstance(payload.get("after"), dict) else {}
            rid = after.get("id")
            if isinstance(rid, str) and rid.startswith("r") and rid[1:].isdigit() and int(rid[1:]) < len(rows):
                seen[int(rid[1:])] += 1
        # a change whose row id itself was replaced cannot be traced back; all the others must be
        traceable = [i for i, line in enumerate(rows) if f'"id": "r{i}"'.encode() in line or f'"id":"r{i}"'.encode() in line]
        wrong = {i: seen[i] for i in traceable if seen[i] != 1}
        assert not wrong, f"row changes not output or dead-lettered exactly once: {wrong}"


# --- operators directly, as the compiler builds them -----------------------------------------

@UNIT
@given(st.lists(st.one_of(st.binary(max_size=30), st.builds(_dumps, VALUES), st.none(),
                          st.builds(lambda d: _nested(d).encode(), st.integers(min_value=250, max_value=2000))),
                max_size=20), st.integers(min_value=1, max_value=10 ** 6))
def test_decode_never_raises_and_places_every_value(values, first):
    values = [v if v is None else v.replace(b"\n", b" ") for v in values]
    decode = Decode("src")
    oks, deads = guard("src", decode.process, raw_values)(RawBatch(list(values), "in.jsonl", first))
    assert all(type(e) is dict for e in oks)
    assert all(isinstance(d, DeadLetter) and d.error.strip() for d in deads)
    origins = [d.origin for d in deads]
    assert len(set(origins)) == len(origins)
    assert all(o.startswith("in.jsonl:") and first <= int(o.split(":")[1]) < first + len(values) for o in origins)
    nulls = sum(1 for v in values if v is not None and v.strip() == b"null")
    present = sum(1 for v in values if v is not None)
    assert present - nulls <= len(oks) + len(deads) <= present


def _registry(name: str, step: str, config: dict):
    return component("operator", name).load()(step, config, None)


@UNIT
@given(st.lists(st.dictionaries(st.sampled_from(["n", "amount", "at", "ms", "flag", "day", "doc", "nested"]), VALUES,
                                max_size=8), max_size=12))
def test_cast_accounts_for_every_event_and_never_modifies_it(batch):
    cast = _registry("cast", "parse", {"fields": {"n": "int", "amount": "decimal(10,2)", "at": "timestamp",
                                                  "ms": "timestamp(ms)", "flag": "bool", "day": "date", "doc": "json",
                                                  "nested.x": "int"}})
    before = copy.deepcopy(batch)
    oks, deads = guard("parse", cast.process)(batch)
    assert len(oks) + len(deads) == len(batch)
    assert all(d.error.strip() for d in deads)
    assert json.dumps(batch, default=str, sort_keys=True) == json.dumps(before, default=str, sort_keys=True)


@UNIT
@given(st.lists(st.tuples(st.sampled_from(MUTABLE), VALUES, st.booleans()), max_size=10))
def test_debezium_cast_accounts_for_every_event(mutations):
    batch = []
    for index, (path, value, with_schema) in enumerate(mutations):
        event = _change(f"r{index}", index)
        node = event
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        batch.append({"schema": SCHEMA, "payload": event} if with_schema else event)
    cast = _registry("debezium", "changes", {})
    before = copy.deepcopy(batch)
    oks, deads = guard("changes", cast.process)(batch)
    assert len(oks) + len(deads) == len(batch)
    assert all(d.error.strip() for d in deads)
    assert all(e["op"] in ("c", "u", "d", "r", "t", "m") for e in oks)
    assert json.dumps(batch, default=str, sort_keys=True) == json.dumps(before, default=str, sort_keys=True)


def _pair(result):
    return result if isinstance(result, tuple) else (result, [])


@st.composite
def merge_inputs(draw):
    events, changes = [], 0
    for index in range(draw(st.integers(min_value=1, max_value=25))):
        if draw(st.integers(min_value=0, max_value=2)):
            tx = draw(st.one_of(st.sampled_from(["1", "2", "3"]), VALUES))
            events.append({"op": "c", "before": None, "after": {"id": f"r{index}"}, "table": "pickup",
                           "tx_id": tx, "lsn": index, "ts_ms": 1709528524350})
            changes += 1
        else:
            end = {"status": "END", "id": draw(st.sampled_from(["1:9", "2:9", "3:9"])),
                   "event_count": draw(st.one_of(st.integers(min_value=-2, max_value=5), VALUES)),
                   "data_collections": draw(st.one_of(
                       st.just([{"data_collection": "public.pickup", "event_count": draw(st.integers(min_value=-2, max_value=5))}]),
                       st.lists(st.one_of(VALUES, st.fixed_dictionaries({"data_collection": VALUES, "event_count": VALUES})),
                                max_size=2), VALUES))}
            if draw(st.booleans()):
                end[draw(st.sampled_from(["id", "status"]))] = draw(VALUES)
            events.append(end)
    splits = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=8))
    return events, changes, splits


@UNIT
@given(merge_inputs())
def test_merge_transactions_loses_no_change(inputs):
    """Keyed operators never raise for a bad event (engine/compiler/keyed.py's contract): called
    directly, without the compiler's last-resort boundary; every change event comes out (as part
    of a net change: each is a distinct row here, so none cancels) or is dead-lettered."""
    events, changes, splits = inputs
    merge = _registry("merge_transactions", "per-transaction", {"markers": True, "tables": ["pickup"], "idle": "30s"})
    logics, emitted, deads = {}, [], []
    now = datetime(2024, 3, 4, 5, 0, tzinfo=timezone.utc)
    position = 0
    batches = []
    for size in splits * (len(events) + 1):
        if position >= len(events):
            break
        batches.append(events[position:position + size])
        position += size
    for batch in batches:
        groups, no_key = merge.group(batch)
        deads += no_key
        for key, pairs in groups:
            logic = logics.setdefault(key, merge.logic(None))
            out, failed = logic.add(pairs, now)
            emitted += out
            deads += failed
        now += timedelta(seconds=1)
    for logic in logics.values():
        for result in (logic.due(now + timedelta(hours=1)), logic.flush()):
            out, failed = _pair(result)
            emitted += out
            deads += failed
    merged = sum(c.get("merged", 1) for e in emitted for c in e["changes"])
    dead_changes = sum(1 for d in deads if isinstance(d.event, dict) and d.event.get("op") == "c")
    assert merged + dead_changes == changes, (merged, dead_changes, changes)
    assert all(d.error.strip() for d in deads)
