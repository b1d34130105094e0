"""Compile overhead: the same flow as a topology and as hand-written Bytewax, in one run.

Flow: read JSON Lines, parse, cast (int, decimal(10,2), timestamp), filter, map, keyed
aggregate (count and sum per status, emitted at the end), write the aggregates to a JSON Lines
file. Three versions run with one Bytewax worker on the same generated input, in interleaved
rounds, and must produce the same aggregates (exact decimal sums):

* ``topology``: the YAML topology below, compiled by the engine (error boundaries, lineage
  and dead letters on, as always);
* ``per-event``: what a Bytewax expert writes, one item per event (``op.map``/``op.filter``/
  ``op.fold_final``, orjson, no copies, constants hoisted, ``datetime.fromisoformat``,
  ``Decimal(text).quantize(Q)``), Bytewax's own ``FileSource``;
* ``batched``: the same expert code over batches of 1,000 lines, as the topology streams
  them (a source yielding lists, one loop per step, a per-batch pre-aggregate folded per key).

    python bench/compile_overhead.py [--events 1000000] [--rounds 5]

Every flow runs with the process settings of a velocity-flow run (the C heap kept, the GC
thresholds of engine/runtime/runner.py). Prints per round and the medians, then, last, ``ratio NAME: median [min..max]`` of the
per-round ratios (events/s of the topology over events/s of the baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bytewax.operators as op  # noqa: E402
import orjson  # noqa: E402
from bytewax.connectors.files import FileSink, FileSource  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.inputs import DynamicSource, StatelessSourcePartition  # noqa: E402
from bytewax.testing import run_main  # noqa: E402

from engine.binding import validate_text  # noqa: E402
from engine.compiler import compile_topology  # noqa: E402
from engine.runtime.heap import keep_heap  # noqa: E402
from engine.runtime.runner import gc_tuned  # noqa: E402

STATUSES = ["DRAFT", "NEW", "PLANNED", "IN_TRANSIT", "DELIVERED"]
BATCH = 1000  # lines per batch: the topology's file source default


def generate(path: str, count: int) -> None:
    rng = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({
                "order_id": str(i), "status": STATUSES[i % 5], "weight_kg": f"{rng.uniform(0, 2000):.2f}",
                "customer": "ACME", "planned_at": f"2026-11-02T06:{i // 60 % 60:02d}:{i % 60:02d}Z",
            }) + "\n")


TOPOLOGY = """\
version: 1
name: bench
sources:
  orders: {{file: {{path: "{input}"}}}}
steps:
  - id: parse
    cast: {{fields: {{order_id: int, weight_kg: "decimal(10,2)", planned_at: timestamp}}}}
  - id: active
    filter: "status != 'DRAFT' and weight_kg > 0"
  - id: to-domain
    map:
      fields: {{order_id: order_id, status: status, weight_kg: weight_kg, heavy: "weight_kg > 1000"}}
  - id: per-status
    aggregate:
      key: status
      compute: {{n: count(), kg: sum(weight_kg)}}
      emit: final
sinks:
  stats: {{from: per-status, file: {{path: "{output}"}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""


def topology_flow(input_path: str, output: str, dead: str):
    text = TOPOLOGY.format(input=input_path, output=output, dead=dead)
    result = validate_text("bench.yaml", text, env={})
    if not result.ok:
        raise SystemExit("\n".join(d.message for d in result.diagnostics))
    assert result.topology is not None
    return compile_topology(result.topology)


# -- the expert's per-event flow ----------------------------------------------------------
_CENTS = Decimal("0.01")
_ZERO = Decimal(0)
_HEAVY = Decimal(1000)
_loads = orjson.loads
_iso = datetime.fromisoformat  # Python 3.11 reads 'Z' itself


def parse_event(line: str) -> dict:
    e = _loads(line)  # a fresh dict: converted in place, no copy
    e["order_id"] = int(e["order_id"])
    e["weight_kg"] = Decimal(e["weight_kg"]).quantize(_CENTS, ROUND_HALF_UP)
    e["planned_at"] = _iso(e["planned_at"])
    return e


def is_active(e: dict) -> bool:
    return e["status"] != "DRAFT" and e["weight_kg"] > _ZERO


def to_domain(e: dict) -> dict:
    w = e["weight_kg"]
    return {"order_id": e["order_id"], "status": e["status"], "weight_kg": w, "heavy": w > _HEAVY}


def new_totals() -> list:
    return [0, _ZERO]


def add_event(acc: list, e: dict) -> list:
    acc[0] += 1
    acc[1] += e["weight_kg"]
    return acc


def format_totals(key_acc) -> tuple:
    status, (n, kg) = key_acc
    return "stats", orjson.dumps({"status": status, "n": n, "kg": str(kg)}).decode()  # FileSink: (key, line)


def per_event_flow(input_path: str, output: str) -> Dataflow:
    flow = Dataflow("bench_per_event")
    lines = op.input("read", flow, FileSource(input_path))
    events = op.map("parse", lines, parse_event)
    active = op.filter("active", events, is_active)
    domain = op.map("to-domain", active, to_domain)
    keyed = op.key_on("key", domain, lambda e: e["status"])
    totals = op.fold_final("per-status", keyed, new_totals, add_event)
    op.output("stats", op.map("format", totals, format_totals), FileSink(Path(output)))
    return flow


# -- the expert's batched flow --------------------------------------------------------------
class _Lines(StatelessSourcePartition):
    def __init__(self, path: str) -> None:
        self._file = open(path, "rb")

    def next_batch(self):
        lines = list(islice(self._file, BATCH))
        if not lines:
            raise StopIteration()
        return [lines]  # one item: a list of lines

    def close(self) -> None:
        self._file.close()


class LineBatches(DynamicSource):
    def __init__(self, path: str) -> None:
        self.path = path

    def build(self, step_id, worker_index, worker_count):
        return _Lines(self.path)


def parse_batch(lines: list) -> list:
    out: list = []
    add = out.append
    for line in lines:
        e = _loads(line)
        e["order_id"] = int(e["order_id"])
        e["weight_kg"] = Decimal(e["weight_kg"]).quantize(_CENTS, ROUND_HALF_UP)
        e["planned_at"] = _iso(e["planned_at"])
        add(e)
    return out


def domain_batch(events: list) -> list:
    return [{"order_id": e["order_id"], "status": e["status"], "weight_kg": w, "heavy": w > _HEAVY}
            for e in events if e["status"] != "DRAFT" and (w := e["weight_kg"]) > _ZERO]


def partial_totals(events: list) -> list:
    """Per-batch pre-aggregate (a combiner): (status, [n, kg]) per status of the batch."""
    totals: dict = {}
    for e in events:
        acc = totals.get(e["status"])
        if acc is None:
            totals[e["status"]] = acc = [0, _ZERO]
        acc[0] += 1
        acc[1] += e["weight_kg"]
    return list(totals.items())


def merge_totals(acc: list, part: list) -> list:
    acc[0] += part[0]
    acc[1] += part[1]
    return acc


def batched_flow(input_path: str, output: str) -> Dataflow:
    flow = Dataflow("bench_batched")
    batches = op.input("read", flow, LineBatches(input_path))
    events = op.map("parse", batches, parse_batch)
    domain = op.map("to-domain", events, domain_batch)
    parts = op.flat_map("pre-aggregate", domain, partial_totals)
    totals = op.fold_final("per-status", parts, new_totals, merge_totals)
    op.output("stats", op.map("format", totals, format_totals), FileSink(Path(output)))
    return flow


# -- running ---------------------------------------------------------------------------------
def timed(flow) -> float:
    started = time.perf_counter()
    run_main(flow)
    return time.perf_counter() - started


def aggregates_from(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {r["status"]: (r["n"], Decimal(str(r["kg"]))) for r in rows}


def spread(values: list) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}..{max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    args = parser.parse_args()
    flows = {"per-event": per_event_flow, "batched": batched_flow}
    # every flow with the process settings of every velocity-flow run: the C heap kept and the
    # GC thresholds of engine/runtime/runner.py (two lines a Bytewax user can write too)
    with tempfile.TemporaryDirectory() as tmp, gc_tuned():
        data = os.path.join(tmp, "orders.jsonl")
        print(f"generating {args.events:,} events ...", flush=True)
        generate(data, args.events)
        keep_heap()  # as every topology run does; the hand-written flows run in this process too
        seconds: dict = {"topology": [], **{name: [] for name in flows}}
        for round_no in range(args.rounds):  # interleaved: per-event, batched, topology, per-event, ...
            outputs = {}
            for name, build in flows.items():
                outputs[name] = os.path.join(tmp, f"{name}{round_no}.jsonl")
                seconds[name].append(timed(build(data, outputs[name])))
            outputs["topology"] = os.path.join(tmp, f"t{round_no}.jsonl")
            seconds["topology"].append(timed(topology_flow(data, outputs["topology"],
                                                           os.path.join(tmp, "dead.jsonl"))))
            expected = aggregates_from(outputs["topology"])
            for name in flows:
                if aggregates_from(outputs[name]) != expected:
                    raise SystemExit(f"{name} and the topology disagree: "
                                     f"{aggregates_from(outputs[name])!r} != {expected!r}")
            print(f"round {round_no + 1}: " + "   ".join(
                f"{name} {args.events / runs[-1]:>9,.0f} ev/s" for name, runs in seconds.items()), flush=True)
        print(f"events/s, median of {args.rounds} rounds:")
        for name, runs in seconds.items():
            print(f"  {name:<10} {args.events / statistics.median(runs):>10,.0f}")
        for name in flows:  # last, for scripts: topology events/s over the baseline's, per round
            ratios = [base / topo for base, topo in zip(seconds[name], seconds["topology"], strict=True)]
            print(f"ratio topology/{name}: {spread(ratios)}")


if __name__ == "__main__":
    main()
