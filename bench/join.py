"""Stream-table join: a topology's `join` step vs the same join hand-written in Bytewax, in one run.

    python bench/join.py [--events 1000000] [--rows 100000] [--rounds 5]

Two generated JSON Lines files: ``--rows`` customers (``id``, ``name``, ``segment``, an address)
and ``--events`` orders, each naming a random customer. Both flows read both files at once, join
every order with its customer's name and segment, and write the enriched orders as JSON Lines:

* ``topology``: two file sources, a `join` step (``table: customers``, ``on: customer_id``,
  ``table_key: id``, ``fields: {customer_name: name, segment: segment}``, ``wait: 1h``: an order
  read before its customer waits for it), a file sink;
* ``bytewax``: what a Bytewax user writes: ``FileSource`` per file (1000 lines a batch, as the
  topology's source), orjson, each side tagged and keyed, merged, ``stateful_batch`` with a
  ``StatefulBatchLogic`` keeping the customer's two fields and the orders that came first, each
  with a timer for its hour (the same work as ``wait``; ``stateful_flat_map`` has no timers),
  orjson, ``FileSink``.

Both run in this process with the garbage collector set as ``velocity-flow run`` sets it
(engine/runtime/runner.py ``gc_tuned``: with 100,000 keys' state alive, Python's default
thresholds make both flows spend much of their time in collections) and glibc's heap kept
(``keep_heap``). The run checks that both wrote the same enriched orders. Prints events/s of each per round
(orders joined per second, the table's rows read too), then the state per table row: the Python
objects a key's state holds (tracemalloc, 10,000 rows; Bytewax's own per-key entry left out)
and its snapshot (pickled, what the recovery store keeps); last, ``rate topology join`` and
``ratio topology/bytewax join: median [min..max]`` of the per-round ratios of the run times
(before it the same of their CPU times, which a busy machine disturbs less).
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bytewax.operators as op  # noqa: E402
import orjson  # noqa: E402
from bytewax.connectors.files import FileSink, FileSource  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.operators import StatefulBatchLogic  # noqa: E402
from bytewax.testing import run_main  # noqa: E402

from engine.binding import validate_text  # noqa: E402
from engine.compiler import compile_topology  # noqa: E402
from engine.compiler.joins import _JoinKey  # noqa: E402
from engine.runtime.heap import keep_heap  # noqa: E402
from engine.runtime.runner import gc_tuned  # noqa: E402

SEGMENTS = ("retail", "wholesale", "public", "logistics")


def generate(rows_path: str, events_path: str, rows: int, events: int) -> None:
    rng = random.Random(19)
    with open(rows_path, "wb") as out:
        for i in range(rows):
            out.write(orjson.dumps({"id": f"C{i:06d}", "name": f"Customer {i}", "segment": SEGMENTS[i % 4],
                                    "address": f"Via Roma {i % 500}, Milano"}) + b"\n")
    with open(events_path, "wb") as out:
        for i in range(events):
            out.write(orjson.dumps({"order_id": i, "customer_id": f"C{rng.randrange(rows):06d}",
                                    "weight_kg": rng.randrange(1, 5000)}) + b"\n")


TOPOLOGY = """\
version: 1
name: join-bench
sources:
  orders: {{file: {{path: "{events}"}}}}
  customers: {{file: {{path: "{rows}"}}}}
steps:
  - id: enriched
    from: orders
    join: {{table: customers, on: customer_id, table_key: id, fields: {{customer_name: name, segment: segment}},
           wait: 1h}}
sinks:
  out: {{from: enriched, file: {{path: "{output}"}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""


def topology(rows: str, events: str, output: str, dead: str):
    result = validate_text("join-bench.yaml", TOPOLOGY.format(rows=rows, events=events, output=output, dead=dead),
                           env={})
    if not result.ok or result.topology is None:
        raise SystemExit("\n".join(d.message for d in result.diagnostics))
    return result.topology


# -- the hand-written flow ------------------------------------------------------------------
_loads, _dumps = orjson.loads, orjson.dumps


def row_item(line: str):
    row = _loads(line)
    return row["id"], (True, {"customer_name": row["name"], "segment": row["segment"]})


def event_item(line: str):
    event = _loads(line)
    return event["customer_id"], (False, event)


WAIT = timedelta(hours=1)


class JoinLogic(StatefulBatchLogic):
    """One customer: its two fields, and the orders that came first, each waiting up to an hour
    (a timer, as the topology's ``wait``: an order whose customer never comes is not kept forever)."""

    def __init__(self, state) -> None:
        self.row, self.waiting = state if state is not None else (None, [])

    def on_batch(self, values):
        out = []
        for is_row, value in values:
            if is_row:
                self.row = value
                if self.waiting:
                    out += [{**e, **value} for _, e in self.waiting]
                    self.waiting = []
            elif self.row is not None:
                out.append({**value, **self.row})
            else:
                self.waiting.append((datetime.now(timezone.utc) + WAIT, value))
        return out, StatefulBatchLogic.RETAIN

    def notify_at(self):
        return self.waiting[0][0] if self.waiting else None

    def on_notify(self):
        now = datetime.now(timezone.utc)
        due = [e for at, e in self.waiting if at <= now]
        self.waiting = [(at, e) for at, e in self.waiting if at > now]
        return [{**e, "customer_name": None, "segment": None} for e in due], StatefulBatchLogic.RETAIN

    def on_eof(self):
        out = [{**e, "customer_name": None, "segment": None} for _, e in self.waiting]
        self.waiting = []
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self):
        return (self.row, list(self.waiting))


def encode(item):
    return item[0], _dumps(item[1]).decode()  # FileSink takes (key, line)


def bytewax_flow(rows: str, events: str, output: str) -> Dataflow:
    flow = Dataflow("join_bench")
    table = op.map("row", op.input("customers", flow, FileSource(rows)), row_item)
    orders = op.map("event", op.input("orders", flow, FileSource(events)), event_item)
    joined = op.stateful_batch("join", op.merge("both", orders, table), JoinLogic)
    op.output("out", op.map("encode", joined, encode), FileSink(output))
    return flow


# -- checking, state size, running -----------------------------------------------------------
def digest(path: str):
    """Count and order-independent sum of the (order, customer name, segment) of each line."""
    count, total = 0, 0
    with open(path, "rb") as handle:
        for line in handle:
            e = _loads(line)
            count += 1
            total = (total + hash((e["order_id"], e["customer_id"], e["customer_name"], e["segment"]))) % (1 << 64)
    return count, total


def state_per_row(rows_path: str, topology_spec) -> dict:
    """Bytes per table row: the per-key objects alive while the flow runs (the key's logic object
    and the state it holds, for each flow), and the pickled snapshot the recovery store keeps, on
    10,000 rows."""
    step = topology_spec.step("enriched").operator
    with open(rows_path, "rb") as handle:
        lines = [next(handle) for _ in range(10_000)]
    rows = [_loads(line) for line in lines]
    groups, _ = step.group_table(rows)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    logics = []
    for _key, pairs in groups:
        logic = _JoinKey("enriched", step, None)
        logic.on_batch([pairs])
        logics.append(logic)
    ours = _allocated(before, tracemalloc.take_snapshot()) / len(rows)
    before = tracemalloc.take_snapshot()
    theirs_logics = []
    for line in lines:
        logic = JoinLogic(None)
        logic.on_batch([row_item(line)[1]])
        theirs_logics.append(logic)
    theirs = _allocated(before, tracemalloc.take_snapshot()) / len(rows)
    tracemalloc.stop()
    snapshot = statistics.mean(len(_pickled(logic.snapshot())) for logic in logics)
    theirs_snapshot = statistics.mean(len(_pickled(logic.snapshot())) for logic in theirs_logics)
    return {"topology": ours, "bytewax": theirs, "topology_snapshot": snapshot, "bytewax_snapshot": theirs_snapshot}


def _pickled(state) -> bytes:
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def _allocated(before, after) -> int:
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def spread(values: list, digits: str = ".3f") -> str:
    return f"{statistics.median(values):{digits}} [{min(values):{digits}}..{max(values):{digits}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows, events = os.path.join(tmp, "customers.jsonl"), os.path.join(tmp, "orders.jsonl")
        print(f"generating {args.rows:,} customers and {args.events:,} orders ...", flush=True)
        generate(rows, events, args.rows, args.events)
        keep_heap()  # as every topology run does; the Bytewax flow runs in this process too
        seconds: dict = {"topology": [], "bytewax": []}
        cpu: dict = {"topology": [], "bytewax": []}  # this process's CPU time: what other processes cannot change
        spec = None
        for round_no in range(args.rounds):  # interleaved
            theirs_out = os.path.join(tmp, f"bytewax{round_no}.jsonl")
            started, cpu_started = time.perf_counter(), time.process_time()
            with gc_tuned():
                run_main(bytewax_flow(rows, events, theirs_out))
            seconds["bytewax"].append(time.perf_counter() - started)
            cpu["bytewax"].append(time.process_time() - cpu_started)
            ours_out, dead = os.path.join(tmp, f"topology{round_no}.jsonl"), os.path.join(tmp, "dead.jsonl")
            spec = topology(rows, events, ours_out, dead)
            flow = compile_topology(spec)
            started, cpu_started = time.perf_counter(), time.process_time()
            with gc_tuned():
                run_main(flow)
            seconds["topology"].append(time.perf_counter() - started)
            cpu["topology"].append(time.process_time() - cpu_started)
            ours, theirs = digest(ours_out), digest(theirs_out)
            if ours != theirs or ours[0] != args.events:
                raise SystemExit(f"the flows disagree: topology {ours}, bytewax {theirs}")
            if os.path.exists(dead) and os.path.getsize(dead):
                raise SystemExit("the topology dead-lettered events")
            os.remove(ours_out)
            os.remove(theirs_out)
            print(f"round {round_no + 1} bytewax {args.events / seconds['bytewax'][-1]:>9,.0f} ev/s "
                  f"({cpu['bytewax'][-1]:.1f} s CPU)   topology {args.events / seconds['topology'][-1]:>9,.0f} ev/s "
                  f"({cpu['topology'][-1]:.1f} s CPU)", flush=True)
        sizes = state_per_row(rows, spec)
        print(f"state per table row: topology {sizes['topology']:,.0f} B live, {sizes['topology_snapshot']:,.0f} B "
              f"snapshot; bytewax {sizes['bytewax']:,.0f} B live, {sizes['bytewax_snapshot']:,.0f} B snapshot")
        print(f"at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {args.events:,} events, {args.rows:,} rows")
        print(f"rate topology join: {spread([args.events / s for s in seconds['topology']], ',.0f')}")
        cpu_ratios = [b / t for b, t in zip(cpu["bytewax"], cpu["topology"], strict=True)]
        print(f"ratio topology/bytewax join, CPU time: {spread(cpu_ratios)}")
        ratios = [b / t for b, t in zip(seconds["bytewax"], seconds["topology"], strict=True)]
        print(f"ratio topology/bytewax join: {spread(ratios)}")


if __name__ == "__main__":
    main()
