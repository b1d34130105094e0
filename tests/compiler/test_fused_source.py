"""A source's decode and the ``debezium`` step that alone reads it, run as one step
(engine/compiler/fused_source.py), change nothing anyone sees: on batches of Kafka Connect
messages as Debezium writes them, spoilt in the ways the world spoils them, the same changes
(compact or not), the same dead letters with their steps, reasons, events and origins, the same
source events and origins behind each change, and the same counts, as the two steps wired apart."""

import re

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import lineage
from engine.binding import validate_text
from engine.compiler import CompileOptions, compile_topology
from engine.compiler.fused_source import decode_then_changes
from engine.metrics import StepCounters
from engine.operators.boundary import guard, raw_values
from engine.operators.debezium import Debezium
from engine.operators.decode import Decode
from engine.operators.merge_transactions import MergeTransactions
from engine.records import RawBatch
from tests.operators.test_compact_change_keys import COLUMNS, GROUP, ROW, a_row, canon, record

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
TOPIC = "tms.public.orders"


def _spoilt(value: bytes, how: str) -> bytes:
    """``value`` (a Debezium message) as the world also sends it."""
    record = orjson.loads(value)
    payload = record["payload"]
    if how == "truncated":
        return value[:-7]
    if how in ("big", "long fraction", "wide"):  # a row's number a double does not hold: parsed again exactly
        number = {"big": b"1e400", "long fraction": b"0.12345678901234567891", "wide": b"-98765432109876543210"}[how]
        return re.sub(rb'"note":"[^"]*"', b'"note":' + number, value, count=1)
    if how == "deep":
        nested: object = 1
        for _ in range(140):
            nested = [nested]
        payload["extra"] = nested
    elif how == "big float in an array":
        payload["extra"] = [1.5, 1e300]
    elif how == "nested, fine":
        payload["after"] = payload["after"] and {**payload["after"], "note": {"a": [1, 2.5]}}
    elif how == "not an object":
        record["payload"] = 5
    elif how == "unknown op":
        payload["op"] = "x"
    elif how == "wrong lsn":
        payload["source"]["lsn"] = "x"
    elif how == "plain":
        return orjson.dumps(payload)
    elif how == "line end":
        return value + b"\n"
    elif how == "key after the payload":
        return value[:-1] + b',"extra":1}'
    elif how == "tombstone":
        return None  # type: ignore[return-value]
    return orjson.dumps(record)


SPOILS = ["truncated", "big", "long fraction", "wide", "deep", "big float in an array", "nested, fine", "not an object",
          "unknown op", "wrong lsn", "plain", "line end", "key after the payload", "tombstone"]


@st.composite
def batches(draw):
    """Batches of one topic's values: mostly the usual messages of one table, some of another
    table (another schema) or spoilt."""
    out, lsn = [], 100
    for _ in range(draw(st.integers(1, 4))):
        values = []
        for _ in range(draw(st.integers(1, 6))):
            lsn += 8
            table = draw(st.sampled_from(["orders"] * 4 + ["items"]))
            op = draw(st.sampled_from(["c", "u", "d", "r"]))
            before = draw(a_row(table, draw(st.integers(1, 2)))) if op in "ud" else None
            after = draw(a_row(table, draw(st.integers(1, 2)), op == "u")) if op in "cur" else None
            snapshot = "true" if op == "r" else "false"
            value = orjson.dumps(record(op, table, before, after, lsn, 700 + lsn // 40, True, snapshot))
            if draw(st.integers(0, 5)) == 0:
                value = _spoilt(value, draw(st.sampled_from(SPOILS)))
            values.append(value)
        out.append(values)
    return out


def _operators(link: bool):
    decode, changes = Decode(TOPIC), Debezium("changes", {}, None)
    if link:
        changes.compact_later(MergeTransactions("merge", {"row": ROW, "group": GROUP, "tables": sorted(COLUMNS)},
                                                None).compact_keys)
    return decode, changes


def _apart(link: bool):
    """The two steps as the compiler wires each: ``raw -> (changes, dead letters)``, and their counters."""
    decode, changes = _operators(link)
    source_counters, counters = StepCounters(TOPIC), StepCounters("changes")
    decoded_by = guard(f"{TOPIC}:decode", decode.process, raw_values)
    converted_by = guard("changes", changes.process_owned)

    def run(raw):
        events, dead = decoded_by(raw)
        source_counters.add(len(raw.values), len(events), len(dead), 0.0)
        if not events:
            return [], dead
        oks, more = converted_by(events)
        counters.add(len(events), len(oks), len(more), 0.0)
        return oks, dead + more

    return run, source_counters, counters


def _together(link: bool):
    decode, changes = _operators(link)
    source_counters, counters = StepCounters(TOPIC), StepCounters("changes")
    return decode_then_changes(f"{TOPIC}:decode", decode, changes, source_counters, counters), source_counters, \
        counters


def _seen(run, plan) -> list:
    """Per batch: the changes, each with the source event and origin behind it, and the dead letters."""
    out = []
    for first, values in enumerate(plan):
        raw = RawBatch(list(values), f"{TOPIC}[0]", offsets=range(first * 10, first * 10 + len(values)))
        oks, dead = run(raw)
        traced = [(canon(change), canon(lineage.trace(oks, i)[0]), lineage.trace(oks, i)[1])
                  for i, change in enumerate(oks)]
        out.append((traced, [(d.step, d.error, canon(d.event), d.origin) for d in dead]))
    return out


def _counts(counters: StepCounters) -> tuple:
    return counters.events_in, counters.events_out, counters.dead, sum(counters.batch_counts)


@pytest.mark.parametrize("link", [True, False], ids=["compact", "dicts"])
@PROPERTY
@given(batches())
def test_together_as_apart(link, plan):
    apart, apart_source, apart_changes = _apart(link)
    together, source_counters, counters = _together(link)
    assert _seen(together, plan) == _seen(apart, plan)
    assert _counts(source_counters) == _counts(apart_source) and _counts(counters) == _counts(apart_changes)


def test_the_usual_batch_takes_the_message_by_message_way_and_a_spoilt_one_the_steps():
    """Not a fast path that is never taken: the usual batch never calls the steps' ``process``."""
    decode, changes = _operators(True)
    calls = []
    decode.process = lambda raw, real=decode.process: calls.append("decode") or real(raw)  # type: ignore
    run = decode_then_changes(f"{TOPIC}:decode", decode, changes, StepCounters(TOPIC), StepCounters("changes"))
    rows = [{"id": n, "total": "AOY=", "placed": 1529507596945104, "note": "x"} for n in range(1, 4)]
    values = [orjson.dumps(record("c", "orders", None, row, 100 + n, 700)) for n, row in enumerate(rows)]
    run(RawBatch(values[:1], "t[0]", offsets=range(1)))  # the first message teaches the schema's text
    assert calls == ["decode"]
    oks, dead = run(RawBatch(values, "t[0]", offsets=range(1, 4)))
    assert calls == ["decode"] and len(oks) == 3 and not dead and type(oks[0]) is tuple
    oks, dead = run(RawBatch([values[0], _spoilt(values[1], "unknown op")], "t[0]", offsets=range(4, 6)))
    assert calls == ["decode", "decode"] and len(oks) == 1
    assert [(d.step, d.origin) for d in dead] == [("changes", "t[0]@5")] and "unsupported" in dead[0].error


FLOW = """
version: 1
name: fused
sources:
  orders: {{file: {{path: "{path}"}}}}
  items: {{file: {{path: "{path}"}}}}
steps:
  - id: changes
    from: [orders, items]
    debezium: {{}}
{more}
sinks:
  out: {{from: changes, file: {{path: "{path}.out"}}}}
dead_letter: {{file: {{path: "{path}.dead"}}}}
"""


def _step_ids(text: str, taps=None) -> set:
    result = validate_text("flow.yaml", text)
    assert result.ok, result.diagnostics
    flow = compile_topology(result.topology, options=CompileOptions(taps=taps or {}))
    ids: set = set()

    def walk(steps):
        for step in steps:
            ids.add(step.step_id.split(".")[-1])
            walk(step.substeps)

    walk(flow.substeps)
    return ids


def test_the_compiler_fuses_only_a_debezium_step_that_alone_reads_plain_json_sources(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("")
    assert "changes" not in _step_ids(FLOW.format(path=path, more=""))  # no Bytewax step of its own
    assert "changes:merge" in _step_ids(FLOW.format(path=path, more=""))  # its two sources' steps merged
    assert "changes" in _step_ids(FLOW.format(path=path, more=""), taps={"orders": lambda batch: None})
    other = "  - id: raw-orders\n    from: orders\n    filter: \"true\""
    assert "changes" in _step_ids(FLOW.format(path=path, more=other))  # another step reads a source
    casts = FLOW.format(path=path, more="").replace("debezium: {}", "debezium: {fields: {a: int}}")
    assert "changes" in _step_ids(casts)
