"""The stream-table join against an independent oracle: plain Python over the same generated
input (Hypothesis) gives exactly the joined events per key, with deletes, table rows that come
after their events (with and without a wait), events out of time order, null keys, bad rows,
left and inner, on one worker and on two.

The input is one ordered sequence of single-sided batches split into the join's two inputs, so
the order in which the join processes an event and a change of its key is the sequence's order
(Bytewax runs a keyed step's input epoch by epoch, one batch an epoch here): that order is what
the oracle is given, and the semantics (docs/joins.md) say what each event must see in it.
"""

from collections import defaultdict
from datetime import timedelta

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compiler.joins import build_join
from engine.operators.joins.stream_table import StreamTableJoin

KEYS = ["a", "b", "c", "d"]

changes = st.one_of(
    st.tuples(st.just("upsert"), st.sampled_from(KEYS), st.integers(0, 99)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("bad"), st.none(), st.integers(0, 99)),  # a row whose key is null: a dead letter
)
events = st.tuples(st.just("event"), st.one_of(st.sampled_from(KEYS), st.none()), st.integers(0, 10_000))
inputs = st.lists(st.lists(st.one_of(changes, events), min_size=1, max_size=4), max_size=30)


def oracle(batches, how, wait):
    """Plain Python: the joined events per key, in order, and the number of dead letters."""
    table, held, out, dead = {}, defaultdict(list), defaultdict(list), 0
    left = how == "left"
    for batch in batches:
        for kind, key, value in batch:
            if kind == "bad":
                dead += 1
            elif kind == "upsert":
                table[key] = value
                out[key] += [{**e, "v": value} for e in held.pop(key, [])]
            elif kind == "delete":
                table.pop(key, None)
            else:
                event = {"k": key, "ts": value}
                if key is not None and key in table:
                    out[key].append({**event, "v": table[key]})
                elif key is not None and wait:
                    held[key].append(event)
                elif left:
                    out[key].append({**event, "v": None})
    for key, waiting in held.items():  # the end of the input releases what waits
        out[key] += [{**e, "v": None} for e in waiting] if left else []
    return {k: v for k, v in out.items() if v}, dead


def as_items(batches):
    """One single-sided batch of the source per group of same-sided operations."""
    items = []
    for batch in batches:
        for kind, key, value in batch:
            side = "e" if kind == "event" else "t"
            if kind == "event":
                event = {"k": key, "ts": value}
            elif kind == "delete":
                event = {"k": key, "gone": True}
            else:
                event = {"k": key, "v": value, "gone": False}
            if items and items[-1][0][0] == side:
                items[-1].append((side, event))
            else:
                items.append([(side, event)])
    return items


def run(batches, how, wait, workers):
    config = {"table": "t", "on": "k", "table_key": "k", "delete_when": "gone", "fields": {"v": "v"}, "how": how}
    if wait:
        config["wait"] = wait
    join = StreamTableJoin("j", config, None, {"table": None})
    out, dead = [], []
    flow = Dataflow("join-oracle")
    tagged = op.input("in", flow, TestingSource(as_items(batches)))
    events = op.flat_map_batch("events", tagged, lambda bs: [[e for s, e in b if s == "e"] for b in bs])
    table = op.flat_map_batch("table", tagged, lambda bs: [[e for s, e in b if s == "t"] for b in bs])
    ok, failed = build_join("j", op.filter("some-events", events, bool), op.filter("some-rows", table, bool),
                            join, None)
    op.output("out", ok, TestingSink(out))
    op.output("dead", failed, TestingSink(dead))
    if workers == 1:
        run_main(flow, epoch_interval=timedelta(0))
    else:
        cluster_main(flow, [], 0, epoch_interval=timedelta(0), worker_count_per_proc=workers)
    found = defaultdict(list)
    for batch in out:
        for event in batch:
            found[event["k"]].append(event)
    return dict(found), sum(len(b) for b in dead)


@settings(max_examples=60, deadline=None)
@given(inputs, st.sampled_from(["left", "inner"]), st.sampled_from([None, "1h"]))
def test_one_worker_joins_as_the_oracle_says(batches, how, wait):
    assert run(batches, how, wait, workers=1) == oracle(batches, how, wait)


@settings(max_examples=25, deadline=None)
@given(inputs, st.sampled_from(["left", "inner"]), st.sampled_from([None, "1h"]))
def test_two_workers_join_as_the_oracle_says(batches, how, wait):
    assert run(batches, how, wait, workers=2) == oracle(batches, how, wait)


def test_the_oracle_covers_the_cases_it_is_for():
    """Late rows, deletes and events out of time order, written out once."""
    batches = [[("event", "a", 30)], [("upsert", "a", 1)], [("event", "a", 10)], [("delete", "a", None)],
               [("event", "a", 20)], [("upsert", "a", 2)]]
    assert oracle(batches, "left", None) == ({"a": [{"k": "a", "ts": 30, "v": None}, {"k": "a", "ts": 10, "v": 1},
                                                     {"k": "a", "ts": 20, "v": None}]}, 0)
    assert oracle(batches, "left", "1h") == ({"a": [{"k": "a", "ts": 30, "v": 1}, {"k": "a", "ts": 10, "v": 1},
                                                     {"k": "a", "ts": 20, "v": 2}]}, 0)
    assert run(batches, "left", "1h", workers=1) == oracle(batches, "left", "1h")


FILE_TOPOLOGY = """\
version: 1
name: join-files
sources:
  events: {{file: {{path: {dir}/events.jsonl}}}}
  rows: {{file: {{path: {dir}/rows.jsonl}}}}
steps:
  - id: enriched
    from: events
    join: {{table: rows, on: k, table_key: k, fields: {{v: v}}, how: {how}, wait: 1h}}
sinks:
  out: {{from: enriched, file: {{path: {dir}/out.jsonl}}}}
dead_letter: {{file: {{path: {dir}/dead.jsonl}}}}
"""


@settings(max_examples=12, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), st.integers(0, 99)),
       st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 10_000)), max_size=40),
       st.sampled_from(["left", "inner"]))
def test_a_file_run_on_two_workers_joins_as_the_oracle_says(flow_factory, rows, events, how):
    """The whole engine (file sources read concurrently, decode, the join, a file sink) on two
    workers. Each key has one row, written once, and events wait for it: whichever file is read
    first, every event sees its key's row if the table has one."""
    from engine.runtime.runner import RunOptions

    flow = flow_factory("join-files")
    flow.write("rows.jsonl", [{"k": k, "v": v} for k, v in rows.items()])
    flow.write("events.jsonl", [{"k": k, "ts": ts} for k, ts in events])
    outcome = flow.run(FILE_TOPOLOGY, RunOptions(workers=2), how=how)
    expected = [{"k": k, "ts": ts, "v": rows.get(k)} for k, ts in events if how == "left" or k in rows]
    key = lambda e: (e["k"], e["ts"], str(e["v"]))  # noqa: E731
    assert sorted(outcome.rows("out"), key=key) == sorted(expected, key=key)
    per_key = defaultdict(list)
    for event in outcome.rows("out"):
        per_key[event["k"]].append(event["ts"])
    assert dict(per_key) == {k: [ts for kk, ts in events if kk == k] for k in per_key}  # each key's order kept
    assert outcome.dead == []
