"""Windowed aggregates: a topology vs a hand-written flow on Bytewax's own windowing, in one run.

    python bench/windows.py [--events 1000000] [--rounds 5] [--kinds tumbling,sliding,session]

The same generated JSON Lines file (sensor readings of 100 devices, event times in order, a
pause of a minute after every 5,000 readings so sessions end) goes through, per window kind:

* ``topology``: file source, ``cast`` of the time, ``aggregate`` by device with the window and
  ``count()``, ``max(temp)``, ``avg(temp)`` (event time, no lateness), a file sink;
* ``bytewax``: what a Bytewax user writes with ``bytewax.operators.windowing`` (``FileSource``,
  orjson + ``fromisoformat``, ``key_on``, ``fold_window`` with an ``EventClock``, unordered:
  the fold commutes), its results collected in memory.

Both run with the process settings of a velocity-flow run (the C heap kept, the GC thresholds
of engine/runtime/runner.py). Windows: tumbling 1 minute; sliding 5 minutes every minute;
session with a 30 s gap. The run checks that both give the same windows (key, start, count,
max, avg), unless either found events late: both watermarks advance with system time, so a
stall of a loaded box can make an event late (that round is timed, not compared, and says so).
Prints events/s of each per round, then, last, ``rate topology KIND`` (events/s)
and ``ratio topology/bytewax KIND``: median [min..max] of the per-round figures.
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
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bytewax.operators as op  # noqa: E402
import bytewax.operators.windowing as win  # noqa: E402
import orjson  # noqa: E402
from bytewax.connectors.files import FileSource  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.testing import TestingSink, run_main  # noqa: E402

from engine.binding import validate_text  # noqa: E402
from engine.compiler import compile_topology  # noqa: E402
from engine.runtime.heap import keep_heap  # noqa: E402
from engine.runtime.runner import gc_tuned  # noqa: E402

DEVICES = 100
START = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
WINDOWS: Dict[str, Tuple[str, Callable[[], win.Windower]]] = {  # kind -> (topology window, Bytewax windower)
    "tumbling": ("{tumbling: 1m, event_time: ts}", lambda: win.TumblingWindower(timedelta(minutes=1), EPOCH)),
    "sliding": ("{sliding: {size: 5m, every: 1m}, event_time: ts}",
                lambda: win.SlidingWindower(timedelta(minutes=5), timedelta(minutes=1), EPOCH)),
    "session": ("{session: {gap: 30s}, event_time: ts}", lambda: win.SessionWindower(timedelta(seconds=30))),
}


def generate(path: str, count: int) -> None:
    rng = random.Random(7)
    with open(path, "wb") as out:
        for i in range(count):
            moment = START + timedelta(milliseconds=6 * i, minutes=i // 5000)
            out.write(orjson.dumps({"device": f"d{i % DEVICES:03d}", "ts": moment.isoformat().replace("+00:00", "Z"),
                                    "temp": round(rng.uniform(-10, 40), 2), "site": "north"}) + b"\n")


TOPOLOGY = """\
version: 1
name: windows-bench
sources:
  readings: {{file: {{path: "{input}"}}}}
steps:
  - id: typed
    cast: {{fields: {{ts: timestamp}}}}
  - id: per-device
    aggregate:
      key: device
      window: {window}
      compute: {{n: count(), hottest: max(temp), mean: avg(temp)}}
sinks:
  out: {{from: per-device, file: {{path: "{output}"}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""


def topology_flow(kind: str, input_path: str, output: str, dead: str):
    text = TOPOLOGY.format(input=input_path, output=output, dead=dead, window=WINDOWS[kind][0])
    result = validate_text("windows-bench.yaml", text, env={})
    if not result.ok or result.topology is None:
        raise SystemExit("\n".join(d.message for d in result.diagnostics))
    return compile_topology(result.topology)


# -- the hand-written flow ------------------------------------------------------------------
_loads = orjson.loads
_iso = datetime.fromisoformat  # Python 3.11 reads 'Z'


def parse(line: str) -> dict:
    e = _loads(line)
    e["ts"] = _iso(e["ts"])
    return e


def new_acc() -> list:
    return [0, None, 0.0]  # count, max, sum


def fold(acc: list, e: dict) -> list:
    t = e["temp"]
    acc[0] += 1
    if acc[1] is None or t > acc[1]:
        acc[1] = t
    acc[2] += t
    return acc


def merge(a: list, b: list) -> list:
    return [a[0] + b[0], b[1] if a[1] is None or (b[1] is not None and b[1] > a[1]) else a[1], a[2] + b[2]]


def bytewax_flow(kind: str, input_path: str, results: list, metas: list, lates: list) -> Dataflow:
    flow = Dataflow(f"windows_{kind}")
    events = op.map("parse", op.input("read", flow, FileSource(input_path)), parse)
    keyed = op.key_on("key", events, lambda e: e["device"])
    clock: win.EventClock[dict] = win.EventClock(lambda e: e["ts"], wait_for_system_duration=timedelta(0))
    out = win.fold_window("per-device", keyed, clock, WINDOWS[kind][1](), new_acc, fold, merge, ordered=False)
    op.output("out", out.down, TestingSink(results))
    op.output("meta", out.meta, TestingSink(metas))
    op.output("late", out.late, TestingSink(lates))
    return flow


# -- checking and running --------------------------------------------------------------------
def topology_windows(path: str) -> set:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {(r["device"], r["window_start"][:19], r["n"], r["hottest"], round(r["mean"], 6)) for r in rows}


def bytewax_windows(results: list, metas: list) -> set:
    starts = {(key, wid): meta.open_time for key, (wid, meta) in metas}
    return {(key, starts[(key, wid)].isoformat()[:19], n, hottest, round(total / n, 6))
            for key, (wid, (n, hottest, total)) in results}


def late_events(lates: list, dead: str) -> str:
    """Events either flow found late (its watermark passed their window); other dead letters of
    the topology stop the run. The dead letter file is emptied for the next run."""
    reasons = []
    if os.path.exists(dead):
        with open(dead, encoding="utf-8") as handle:
            reasons = [json.loads(line).get("error", "") for line in handle if line.strip()]
        os.remove(dead)
    if any(not reason.startswith("late event") for reason in reasons):
        raise SystemExit(f"the topology dead-lettered events: {reasons[:2]}")
    late = ([f"bytewax {len(lates)} late"] if lates else []) + ([f"topology {len(reasons)} late"] if reasons else [])
    return ", ".join(late)


def spread(values: list, digits: str = ".3f") -> str:
    return f"{statistics.median(values):{digits}} [{min(values):{digits}}..{max(values):{digits}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    parser.add_argument("--kinds", default=",".join(WINDOWS), help="window kinds, comma-separated")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    # every flow with the process settings of every velocity-flow run: the C heap kept and the
    # GC thresholds of engine/runtime/runner.py (two lines a Bytewax user can write too)
    with tempfile.TemporaryDirectory() as tmp, gc_tuned():
        data = os.path.join(tmp, "readings.jsonl")
        print(f"generating {args.events:,} readings ...", flush=True)
        generate(data, args.events)
        keep_heap()  # as every topology run does; the Bytewax flow runs in this process too
        seconds: Dict[Tuple[str, str], List[float]] = {
            (kind, flow): [] for kind in kinds for flow in ("topology", "bytewax")}
        for round_no in range(args.rounds):  # interleaved: bytewax, topology, per kind, per round
            for kind in kinds:
                results: list = []
                metas: list = []
                lates: list = []
                started = time.perf_counter()
                run_main(bytewax_flow(kind, data, results, metas, lates))
                seconds[(kind, "bytewax")].append(time.perf_counter() - started)
                output = os.path.join(tmp, f"{kind}{round_no}.jsonl")
                flow = topology_flow(kind, data, output, os.path.join(tmp, "dead.jsonl"))
                started = time.perf_counter()
                run_main(flow)
                seconds[(kind, "topology")].append(time.perf_counter() - started)
                ours, theirs = topology_windows(output), bytewax_windows(results, metas)
                late = late_events(lates, os.path.join(tmp, "dead.jsonl"))
                if late:  # both watermarks advance with system time: a stall of the loaded box
                    print(f"round {round_no + 1} {kind}: {late} (not compared)", flush=True)
                elif ours != theirs:
                    raise SystemExit(f"{kind}: the flows disagree on {len(ours ^ theirs)} windows, e.g. "
                                     f"{sorted(ours - theirs)[:2]} vs {sorted(theirs - ours)[:2]}")
                print(f"round {round_no + 1} {kind:<9} bytewax {args.events / seconds[(kind, 'bytewax')][-1]:>9,.0f} "
                      f"ev/s   topology {args.events / seconds[(kind, 'topology')][-1]:>9,.0f} ev/s "
                      f"({len(ours):,} windows)", flush=True)
        for kind in kinds:  # last, for scripts
            rates = [args.events / s for s in seconds[(kind, "topology")]]
            print(f"rate topology {kind}: {spread(rates, ',.0f')}")
        for kind in kinds:
            ratios = [b / t for b, t in zip(seconds[(kind, "bytewax")], seconds[(kind, "topology")], strict=True)]
            print(f"ratio topology/bytewax {kind}: {spread(ratios)}")


if __name__ == "__main__":
    main()
