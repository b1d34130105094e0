"""Start-up: a one-event topology run vs the same flow in plain Bytewax, and ``validate`` of
the largest shipped topology, each a fresh process, in interleaved rounds.

    python bench/startup.py [--rounds 10]

* ``bytewax``: a script (file source of one JSON line, orjson, a filter, a file sink) with
  ``bytewax.testing.run_main``;
* ``topology``: ``velocity-flow run -q`` of the same flow as a topology (validation,
  compilation, error boundaries and the dead-letter wiring included);
* ``validate``: ``velocity-flow validate`` of the largest file in topologies/, as it runs
  again on a file whose DuckDB views it checked before (the warm-up run checks them; the
  views cache, engine/connectors/table_views_cache.py, spares DuckDB after);
* ``validate-nocache``: the same with ``VELOCITY_FLOW_NO_CACHE=1``: DuckDB checks the views in
  every run, as in a first validate of the file (in a helper process on a second core when one
  is idle, engine/connectors/views_helper.py);
* ``validate-nocache-1cpu``: the same on one core (``sched_setaffinity``): no helper, DuckDB
  starts in the validating process itself.

Each figure is the wall time from starting the process to its exit: for a one-event flow that is
the time to the first event written, plus the exit. ``velocity-flow`` is the environment's script
running this checkout's engine/ and cli/ (``PYTHONPATH``), so two checkouts compare. Byte code is
cached as an installed package has it (bench/bytecode.py; and one warm-up run of each). Prints per
round, then ``cpu ms NAME`` (user + system time of the process: less moved than wall time by other
work on a shared machine) and, last, ``ms NAME: median [min..max]`` and ``ratio topology/bytewax:
median [min..max]`` (wall time of the topology over that of Bytewax, per round: lower is better;
the goal is <= 1.3).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, ROOT)

from bench.bytecode import installed_env  # noqa: E402

TOPOLOGY = """\
version: 1
name: startup
sources:
  in: {file: {path: in.jsonl}}
steps:
  - id: pass
    filter: "a > 0"
sinks:
  out: {from: pass, file: {path: out.jsonl}}
"""
PLAIN = """\
from pathlib import Path

import bytewax.operators as op
import orjson
from bytewax.connectors.files import FileSink, FileSource
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main

flow = Dataflow("startup")
events = op.map("parse", op.input("in", flow, FileSource("in.jsonl")), orjson.loads)
kept = op.filter("pass", events, lambda e: e["a"] > 0)
op.output("out", op.map("line", kept, lambda e: ("out", orjson.dumps(e).decode())), FileSink(Path("plain.jsonl")))
run_main(flow)
"""


def largest_topology() -> str:
    found = [os.path.join(folder, name) for folder, _, names in os.walk(os.path.join(ROOT, "topologies"))
             for name in names if name.endswith(".yaml") and not name.endswith(".test.yaml")]
    return max(found, key=os.path.getsize)


def one_cpu() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def timed(command: list, cwd: str, env: dict, preexec=None) -> tuple:
    """(wall seconds, cpu seconds) of one run of ``command`` (its helper processes included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=preexec)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def spread(values: list, digits: str) -> str:
    return f"{statistics.median(values):{digits}} [{min(values):{digits}}..{max(values):{digits}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    cli = os.path.join(os.path.dirname(sys.executable), "velocity-flow")
    largest = largest_topology()
    with tempfile.TemporaryDirectory() as tmp:
        # the environment's velocity-flow script, running this checkout's code (an editable or
        # another install's would be what the environment holds, not what is measured here)
        env = {**installed_env(), "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        with open(os.path.join(tmp, "in.jsonl"), "w", encoding="utf-8") as handle:
            handle.write('{"a": 1}\n')
        with open(os.path.join(tmp, "startup.yaml"), "w", encoding="utf-8") as handle:
            handle.write(TOPOLOGY)
        with open(os.path.join(tmp, "plain.py"), "w", encoding="utf-8") as handle:
            handle.write(PLAIN)
        commands = {"bytewax": [sys.executable, "plain.py"], "topology": [cli, "run", "-q", "startup.yaml"],
                    "validate": [cli, "validate", largest], "validate-nocache": [cli, "validate", largest],
                    "validate-nocache-1cpu": [cli, "validate", largest]}
        envs = {name: env for name in commands}
        envs["validate-nocache"] = envs["validate-nocache-1cpu"] = {**env, "VELOCITY_FLOW_NO_CACHE": "1"}
        preexec = {"validate-nocache-1cpu": one_cpu}
        for name, command in commands.items():  # warm-up: byte code written, files cached, views checked
            timed(command, tmp, envs[name], preexec.get(name))
        seconds: dict = {name: [] for name in commands}
        cpu: dict = {name: [] for name in commands}
        for round_no in range(args.rounds):
            for name, command in commands.items():
                wall, used = timed(command, tmp, envs[name], preexec.get(name))
                seconds[name].append(wall)
                cpu[name].append(used)
            print(f"round {round_no + 1}: " + "   ".join(f"{name} {runs[-1] * 1000:6.0f} ms"
                                                      for name, runs in seconds.items()), flush=True)
        print(f"validate: {os.path.relpath(largest, ROOT)}")
        for name, runs in cpu.items():
            print(f"cpu ms {name}: {spread([s * 1000 for s in runs], '.0f')}")
        for name, runs in seconds.items():  # last, for scripts
            print(f"ms {name}: {spread([s * 1000 for s in runs], '.0f')}")
        ratios = [t / b for t, b in zip(seconds["topology"], seconds["bytewax"], strict=True)]
        print(f"ratio topology/bytewax: {spread(ratios, '.2f')}")


if __name__ == "__main__":
    main()
