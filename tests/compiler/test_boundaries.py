"""The error boundary (engine.operators.boundary) and the sinks' encode steps: one event never
stops a flow, never vanishes, and a failing destination is one line naming the sink."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from engine.operators.boundary import guard, raw_values
from engine.records import RawBatch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _fragile(batch):
    """A pure step with a bug: any event with ``bad`` set makes the whole call raise."""
    out = []
    for event in batch:
        if event["bad"] == 1:
            raise KeyError("boom")
        if event["bad"] == 2:
            raise RecursionError("maximum recursion depth exceeded")
        out.append({"n": event["n"] * 2})
    return out, []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2), max_size=60))
def test_guard_keeps_every_good_event_in_order_and_dead_letters_only_the_failing_ones(kinds):
    batch = [{"n": i, "bad": k} for i, k in enumerate(kinds)]
    oks, deads = guard("double", _fragile)(batch)
    assert oks == [{"n": e["n"] * 2} for e in batch if e["bad"] == 0]
    assert [d.event for d in deads] == [e for e in batch if e["bad"]]
    assert all(d.step == "double" and d.error for d in deads)
    assert len(oks) + len(deads) == len(batch)


def test_guard_joins_routed_outputs_and_keeps_the_steps_own_dead_letters():
    def route(batch):
        if any(e is None for e in batch):
            raise TypeError("'NoneType' object is not subscriptable")
        return {"big" if e["n"] > 1 else "small": [e] for e in batch}, []

    oks, deads = guard("route", route)([{"n": 1}, None, {"n": 5}])
    assert oks == {"small": [{"n": 1}], "big": [{"n": 5}]}
    assert [(d.event, d.step, d.error) for d in deads] == [(None, "route", "'NoneType' object is not subscriptable")]


def test_raw_values_keep_their_exact_positions_and_metadata():
    raw = RawBatch([b'{"a":1}', b"\xff\xfe", b"[1]"], "orders", offsets=[7, 9, 12], meta=[{"k": 1}, {"k": 2}, {"k": 3}])

    def decode(raw):
        values = [json.loads(v) for v in raw.values]
        if any(type(v) is not dict for v in values):
            raise ValueError("not an object")
        return [{**v, "_meta": m} for v, m in zip(values, raw.meta)], []

    oks, deads = guard("orders:decode", decode, raw_values)(raw)
    assert oks == [{"a": 1, "_meta": {"k": 1}}]
    assert [(d.event, d.origin) for d in deads] == [("\ufffd\ufffd", "orders@9"), ("[1]", "orders@12")]


POISON = """\
    version: 1
    name: poison
    sources:
      s: {{file: {{path: "{dir}/in.jsonl"}}}}
    steps:
      - id: parse
        cast: {{fields: {{id: int}}}}
    sinks:
      lines: {{from: parse, file: {{path: "{dir}/out.jsonl"}}}}
      table: {{from: parse, duckdb: {{path: "{dir}/out.duckdb", table: t, mode: upsert, key: [id],
               columns: {{id: int, kg: "decimal(6,2)", day: date, doc: json}}}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_values_a_sink_cannot_take_are_dead_letters_of_that_sink_and_the_rest_is_written(flow):
    lines = [
        '{"id": "1", "kg": "1.50", "day": "2024-02-29", "doc": {"a": [1]}}',
        '{"id": "12345678901234567890123", "kg": "2"}',       # beyond BIGINT: JSON keeps it exactly
        '{"id": "3", "kg": "123456.7"}',                      # more digits than DECIMAL(6,2)
        '{"id": "4", "day": "2024-13-45"}',                   # no such date
        '{"kg": "5"}',                                        # NULL primary key
        '{"id": "6", "doc": ' + _nested(300) + '}',           # deeper than JSON can be written
        '{"id": "7", "kg": "7"}',
    ]
    flow.write("in.jsonl", lines)
    ran = flow.cli(POISON, "poison.yaml")
    assert ran.exit == 0
    written = ran.text("lines").splitlines()
    assert '{"id":12345678901234567890123,"kg":"2"}' in written
    dead = ran.dead
    # the decoder ("s") may refuse deep nesting before the sink does
    assert len(written) + sum(1 for d in dead if d["step"] in ("sink:lines", "s")) == len(lines)
    assert [r[0] for r in ran.table("table", "SELECT id FROM t ORDER BY id")] == [1, 7]
    # a sink's dead letter carries the event as read (before cast: ids are still text) and its line
    table_dead = {d["event"].get("id"): (d["error"], d["origin"]) for d in dead
                  if d["step"] == "sink:table" and isinstance(d["event"], dict)}
    where = f"{flow.dir / 'in.jsonl'}:"
    assert table_dead["12345678901234567890123"] == (AnyText("beyond BIGINT"), where + "2")
    assert table_dead["3"] == (AnyText("more than 4 digits before the point"), where + "3")
    assert table_dead["4"] == (AnyText("not an ISO-8601 date"), where + "4")
    assert table_dead[None] == (AnyText("key column 'id' is null"), where + "5")
    deep = [d for d in dead if "nested deeper than" in d["error"]]  # refused at decode or by the sinks
    assert deep and all(isinstance(d["event"], str) and '6' in d["event"][:12] for d in deep)
    assert {d["step"] for d in deep} <= {"s", "sink:lines", "sink:table"}


class AnyText(str):
    """Equal to any text containing it."""

    def __eq__(self, other):
        return isinstance(other, str) and str(self) in other

    __hash__ = str.__hash__


def test_a_broken_destination_stops_the_flow_with_one_line_naming_the_sink(flow):
    flow.write("in.jsonl", ['{"id": "1"}'])
    path = flow.yaml("""\
        version: 1
        name: full
        sources: {{s: {{file: {{path: "{dir}/in.jsonl"}}}}}}
        sinks: {{out: {{from: s, file: {{path: /dev/full, mode: append}}}}}}
        dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
        """, "full.yaml")
    env = {k: v for k, v in os.environ.items() if k != "VELOCITY_FLOW_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "cli", "run", "-q", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == ["error: sink 'out': OSError: [Errno 28] No space left on device"]
