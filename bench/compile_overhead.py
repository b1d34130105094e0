"""Compile overhead: the same flow as a topology and as hand-written Bytewax, in one run.

Flow: read JSON Lines, parse, cast (int, decimal, timestamp), filter, map, keyed aggregate
(count and sum per status, emitted at the end), write the aggregates to a JSON Lines file.
Both versions run with one Bytewax worker on the same generated input and must produce the
same aggregates. Prints events/s for each and the ratio topology / hand-written.

    python bench/compile_overhead.py [--events 1000000] [--rounds 5]

Prints the median [min..max] of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bytewax.operators as op  # noqa: E402
import orjson  # noqa: E402
from bytewax.connectors.files import FileSink, FileSource  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.testing import run_main  # noqa: E402

from engine.compiler import compile_topology  # noqa: E402
from engine.runtime.heap import keep_heap  # noqa: E402
from engine.binding import validate_text  # noqa: E402

STATUSES = ["DRAFT", "NEW", "PLANNED", "IN_TRANSIT", "DELIVERED"]


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
    return compile_topology(result.topology)


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _cast(e: dict) -> dict:
    return {**e, "order_id": int(e["order_id"]), "weight_kg": Decimal(e["weight_kg"]).quantize(Decimal("0.01")),
            "planned_at": _parse_ts(e["planned_at"])}


def _fold(acc, e):
    return (acc[0] + 1, acc[1] + e["weight_kg"])


def _format(key_acc):
    key, (n, kg) = key_acc
    return orjson.dumps({"status": key, "n": n, "kg": float(kg)}).decode()


def hand_written_flow(input_path: str, output: str):
    """What a Bytewax user would write by hand for the same flow."""
    flow = Dataflow("bench_hand")
    lines = op.input("read", flow, FileSource(input_path))
    events = op.map("parse", lines, orjson.loads)
    typed = op.map("cast", events, _cast)
    active = op.filter("active", typed, lambda e: e["status"] != "DRAFT" and e["weight_kg"] > 0)
    domain = op.map("to-domain", active, lambda e: {"order_id": e["order_id"], "status": e["status"],
                                                       "weight_kg": e["weight_kg"], "heavy": e["weight_kg"] > 1000})
    keyed = op.key_on("key", domain, lambda e: e["status"])
    totals = op.fold_final("per-status", keyed, lambda: (0, Decimal(0)), _fold)
    lines_out = op.map("format", totals, lambda key_acc: ("stats", _format(key_acc)))  # FileSink takes (key, line)
    op.output("stats", lines_out, FileSink(output))
    return flow


def timed(flow) -> float:
    started = time.perf_counter()
    run_main(flow)
    return time.perf_counter() - started


def aggregates_from(path: str, fields=("status", "n", "kg")) -> dict:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {r["status"]: (r["n"], round(float(r["kg"]), 2)) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "orders.jsonl")
        print(f"generating {args.events:,} events ...", flush=True)
        generate(data, args.events)
        keep_heap()  # as every topology run does; the hand-written flow runs in this process too
        seconds = {"topology": [], "hand-written": []}
        for round_no in range(args.rounds):  # interleaved: hand-written, topology, hand-written, ...
            out_t, out_h = os.path.join(tmp, f"t{round_no}.jsonl"), os.path.join(tmp, f"h{round_no}.jsonl")
            seconds["hand-written"].append(timed(hand_written_flow(data, out_h)))
            seconds["topology"].append(timed(topology_flow(data, out_t, os.path.join(tmp, "dead.jsonl"))))
            if aggregates_from(out_t) != aggregates_from(out_h):
                raise SystemExit("the two flows disagree: " + repr((aggregates_from(out_t), aggregates_from(out_h))))
            print(f"round {round_no + 1}: hand-written {args.events / seconds['hand-written'][-1]:>10,.0f} ev/s   "
                  f"topology {args.events / seconds['topology'][-1]:>10,.0f} ev/s", flush=True)
        ratios = [h / t for h, t in zip(seconds["hand-written"], seconds["topology"])]
        rates = {name: args.events / statistics.median(runs) for name, runs in seconds.items()}
        print(textwrap.dedent(f"""\
            flow            events/s (median of {args.rounds} rounds)
            hand-written   {rates['hand-written']:>10,.0f}
            topology       {rates['topology']:>10,.0f}
            ratio topology / hand-written (events/s, per round): {statistics.median(ratios):.3f} \
[{min(ratios):.3f}..{max(ratios):.3f}]"""))

if __name__ == "__main__":
    main()
