"""The cost of the error boundaries (issue 11), measured in one run with interleaved rounds.

Three figures:
1. clean data, this checkout with its boundaries vs the same checkout with them off (``guard``
   replaced by the bare work in the child process: what the boundaries and lineage cost),
   events/s ratio per round, goal >= 0.97;
2. clean data, this checkout vs a baseline commit before issue 11 (``--baseline``): the whole
   price of the poison-proofing, the decoders' and sinks' own checks included (no goal);
3. 4% bad events vs clean data, this checkout: events/s ratio per round, goal >= 0.80.
   The bad events are spread evenly (one in 25 lines), so every batch of the flow holds some:
   malformed JSON, an int that is no int, a decimal that is no decimal, a timestamp that is
   no timestamp.

With ``--kafka``, figures 1 and 2 are measured on bench/kafka_throughput.py's Kafka -> Kafka
topology (cast, filter, map, Kafka sink) on a real broker instead, and figure 3 is not.

Every run is a fresh process that imports the engine from its checkout (a ``git worktree``
for the baseline), compiles the same topology and times only the Bytewax run. Rounds go
A, B, C, D, A, B, C, D, ...; the figures are the median [min..max] of the per-round ratios.

    python bench/boundaries.py [--events 300000] [--rounds 5] [--baseline dfe28d8] [--kafka] [--malloc]

Each run prints its minor page faults: ~10k is a run whose C heap stayed put, ~100k+ one
that glibc trimmed and grew again at every batch (+50% CPU; engine/runtime/heap.py prevents
it since; the baseline commit does not have it, so its runs may show it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASELINE = "dfe28d8"  # main before the boundaries

TOPOLOGY = """\
version: 1
name: boundaries
sources:
  orders: {{file: {{path: "{input}"}}}}
steps:
  - id: parse
    cast: {{fields: {{order_id: int, weight_kg: "decimal(10,2)", planned_at: timestamp}}}}
  - id: active
    filter: "status != 'DRAFT' and weight_kg > 0"
  - id: to-domain
    map:
      fields: {{order_id: order_id, status: status, weight_kg: weight_kg, heavy: "weight_kg > 1000", at: planned_at}}
  - id: per-status
    aggregate: {{key: status, compute: {{n: count(), kg: sum(weight_kg)}}, emit: final}}
sinks:
  domain: {{from: to-domain, file: {{path: "{out}/domain.jsonl"}}}}
  stats: {{from: per-status, file: {{path: "{out}/stats.jsonl"}}}}
dead_letter: {{file: {{path: "{out}/dead.jsonl"}}}}
"""

STATUSES = ["DRAFT", "NEW", "PLANNED", "IN_TRANSIT", "DELIVERED"]
BAD = ['{"order_id": "7", "status": "NEW", "weight_kg": "1.0", "planned_at": ',  # malformed JSON
       '{"order_id": "12x", "status": "NEW", "weight_kg": "1.0", "planned_at": "2026-11-02T06:00:00Z"}',
       '{"order_id": "8", "status": "NEW", "weight_kg": "n/a", "planned_at": "2026-11-02T06:00:00Z"}',
       '{"order_id": "9", "status": "NEW", "weight_kg": "1.0", "planned_at": "yesterday"}']


def generate(path: str, count: int, bad_every: int = 0) -> int:
    """``count`` lines; with ``bad_every`` one line in that many is bad. Returns the bad ones."""
    rng = random.Random(42)
    bad = 0
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            if bad_every and i % bad_every == bad_every // 2:
                out.write(BAD[bad % len(BAD)] + "\n")
                bad += 1
                continue
            out.write(json.dumps({
                "order_id": str(i), "status": STATUSES[i % 5], "weight_kg": f"{rng.uniform(0, 2000):.2f}",
                "customer": "ACME", "planned_at": f"2026-11-02T06:{i // 60 % 60:02d}:{i % 60:02d}Z",
            }) + "\n")
    return bad


def child(root: str, topology_path: str, out: str, boundaries: str = "on") -> None:
    """One timed run of a topology with the engine of ``root``; prints seconds and counts."""
    sys.path.insert(0, root)
    if boundaries == "off":
        _boundaries_off()
    from engine.compiler import compile_topology
    from engine.runtime.runner import RunOptions, run_dataflow

    try:
        from engine.binding import validate_text
    except ImportError:  # an engine from before issue 17 (the baseline): validation lived in topology/
        from engine.topology.validate import validate_text  # type: ignore[no-redef]

    with open(topology_path, encoding="utf-8") as handle:
        result = validate_text("boundaries.yaml", handle.read(), env={})
    if not result.ok:
        raise SystemExit("\n".join(d.message for d in result.diagnostics))
    flow = compile_topology(result.topology)
    started = time.perf_counter()
    run_dataflow(flow, RunOptions())
    seconds = time.perf_counter() - started

    def lines(name):
        path = os.path.join(out, name)
        return sum(1 for _ in open(path, "rb")) if os.path.exists(path) else 0

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    print(json.dumps({"seconds": seconds, "domain": lines("domain.jsonl"), "dead": lines("dead.jsonl"),
                      "faults": faults}))


def _boundaries_off() -> None:
    """Every ``guard`` the compiler applies becomes the bare work (no try, no lineage)."""
    import engine.compiler
    import engine.compiler.keyed
    import engine.compiler.sinks

    def bare(step_id, process, *args, **kwargs):
        return process

    for module in (engine.compiler, engine.compiler.keyed, engine.compiler.sinks):
        module.guard = bare


def run(root: str, text: str, tmp: str, boundaries: str = "on") -> dict:
    """``text`` (a topology with ``{out}`` for its output directory) run by ``root``'s engine."""
    out = tempfile.mkdtemp(dir=tmp)
    path = os.path.join(out, "topology.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace("{out}", out))
    env = {**os.environ, **({"PYTHONMALLOC": "malloc"} if MALLOC else {})}
    done = subprocess.run([sys.executable, __file__, "--child", root, path, out, boundaries], capture_output=True, text=True, env=env,
                          timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"run with {root} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worktree(ref: str, tmp: str) -> str:
    path = os.path.join(tmp, "baseline")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", path, ref], check=True)
    return path


def summary(ratios) -> str:
    return f"{statistics.median(ratios):.3f} [{min(ratios):.3f}..{max(ratios):.3f}]"


def file_rounds(args, base: str, tmp: str) -> None:
    clean, dirty = os.path.join(tmp, "clean.jsonl"), os.path.join(tmp, "dirty.jsonl")
    generate(clean, args.events)
    bad = generate(dirty, args.events, bad_every=25)
    clean_flow = TOPOLOGY.format(input=clean, out="{out}")
    dirty_flow = TOPOLOGY.format(input=dirty, out="{out}")
    cost, whole, poison = [], [], []
    for round_no in range(args.rounds):
        head, off = run(ROOT, clean_flow, tmp), run(ROOT, clean_flow, tmp, "off")
        old, dirty_run = run(base, clean_flow, tmp), run(ROOT, dirty_flow, tmp)
        for other in (off, old):
            if (head["domain"], head["dead"]) != (other["domain"], other["dead"]):
                raise SystemExit(f"the runs disagree on clean data: {head} vs {other}")
        if dirty_run["dead"] != bad:
            raise SystemExit(f"{bad} bad events, {dirty_run['dead']} dead letters")
        cost.append(off["seconds"] / head["seconds"])
        whole.append(old["seconds"] / head["seconds"])
        poison.append(head["seconds"] / dirty_run["seconds"])
        print(f"round {round_no + 1}: " + "   ".join(
            f"{name} {args.events / r['seconds']:>9,.0f} ev/s ({r['faults'] // 1000}k faults)"
            for name, r in (("head", head), ("off", off), ("baseline", old), ("head 4% bad", dirty_run))), flush=True)
    print(f"file flow, clean data, boundaries on / off (events/s):       {summary(cost)}   goal >= 0.97")
    print(f"file flow, clean data, head / baseline {args.baseline} (events/s):  {summary(whole)}")
    print(f"file flow, 4% bad events / clean, head (events/s):           {summary(poison)}   goal >= 0.80")


def kafka_rounds(args, base: str, tmp: str) -> None:
    import uuid

    import kafka_throughput as kt  # the Kafka -> Kafka workload of bench/kafka_throughput.py

    bootstrap, state = kt.broker(argparse.Namespace(bootstrap=None))
    try:
        source = f"boundaries-{uuid.uuid4().hex[:8]}"
        kt.create_topics(bootstrap, 4, source)
        kt.produce(bootstrap, source, args.events)
        cost, whole = [], []
        for round_no in range(args.rounds):
            seconds, faults = {}, {}
            for name, root, boundaries in (("head", ROOT, "on"), ("off", ROOT, "off"), ("baseline", base, "on")):
                target = f"{source}-{name}-{round_no}"
                kt.create_topics(bootstrap, 4, target)
                text = kt.TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target, dead="{out}/dead.jsonl")
                result = run(root, text, tmp, boundaries)
                seconds[name], faults[name] = result["seconds"], result["faults"]
            cost.append(seconds["off"] / seconds["head"])
            whole.append(seconds["baseline"] / seconds["head"])
            print(f"round {round_no + 1}: " + "   ".join(
                f"{name} {args.events / seconds[name]:>9,.0f} ev/s ({faults[name] // 1000}k faults)"
                for name in ("head", "off", "baseline")), flush=True)
        print(f"kafka flow, boundaries on / off (events/s):      {summary(cost)}   goal >= 0.97")
        print(f"kafka flow, head / baseline {args.baseline} (events/s): {summary(whole)}")
    finally:
        if state:
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kafka"), "stop", "--state-dir", state],
                           capture_output=True, timeout=60)
            shutil.rmtree(state, ignore_errors=True)


MALLOC = False  # --malloc: children use the C allocator (PYTHONMALLOC=malloc)


def main() -> None:
    global MALLOC
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--malloc", action="store_true",
                        help="run the flows with PYTHONMALLOC=malloc: slower, but no arena thrash (see above)")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help="git ref of the engine without boundaries")
    parser.add_argument("--kafka", action="store_true", help="the Kafka -> Kafka flow on a real broker")
    args = parser.parse_args()
    MALLOC = args.malloc
    with tempfile.TemporaryDirectory() as tmp:
        base = worktree(args.baseline, tmp)
        try:
            (kafka_rounds if args.kafka else file_rounds)(args, base, tmp)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base], check=False)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
