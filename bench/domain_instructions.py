"""Instructions and simulated cache misses per message of technical -> domain: the engine's operators vs the peer.

    python bench/domain_instructions.py [--transactions 2000] [--rounds 5]

bench/domain_replay.py's CPU figures swing by half from one round to the next on a shared
box, more for the engine than for the peer (its working set is the larger), so a change of
a few percent does not show through them. Counted instructions do not swing: this bench runs
domain_replay.py's sides (``--side engine`` / ``peer`` / ``checked``, the peer that also makes
the topology's checks, bench/domain_peer_checked.py: the same backlog, the same code) under
Valgrind's cachegrind, which counts every instruction the process executes
and simulates its caches: always the same ones (``CACHES``: a 48 KiB first-level data cache
and an 8 MiB last level, a common server core's share; ``--ll`` another last level), not what
the CPU reports (this VM reports a 256-512 MiB last level, in which nothing but a first touch
misses). cachegrind simulates two levels only: with the 8 MiB last level, the misses of a
core's own second level (1 MiB on this box's EPYC; each an L3 hit of ~40-50 cycles) are not
seen; ``--ll 1048576,8`` counts those instead. Neither models the CPU's prefetchers, which hide
most misses of sequential reads and copies (``memcmp``, ``memcpy``) but not those of scattered
objects (dict look-ups, deallocations).

A side's work on the backlog is the difference between a run of two rounds and a run of
one: the set-up (imports, the workload, the topology's validation, the first round's
compilations) cancels out, and what is left is one warm round. The engine's operators are compiled once, and
each round starts with their memos of converted values forgotten (domain_replay.py's ``forget``):
a warm round would otherwise find every value of the backlog remembered from the first. Per round of this bench the
six runs go two at a time; each side comes first in turn. Hash seeds are fixed
(``PYTHONHASHSEED=0``), so a round repeats the last one's counts to within a few hundred
instructions per message: the spread printed shows it.

Prints per round each side's instructions (Ir), first-level data misses (D1), last-level
misses (LL) and mispredicted branches (Bm: conditional and indirect, by cachegrind's simple
predictor, not the CPU's) per message, then for each peer ``ratio engine/peer branch
mispredictions per message``, ``... instructions per message`` (``engine/checked peer``) and
the same for LL misses: median [min..max]. Needs ``valgrind`` on
the PATH (exit 2 without it).
``--steps`` then splits each side's count by step (the engine's decode, debezium, merge, map,
encode; a peer's read, take, events, dumps: domain_replay.py's ``STEPS`` and ``PEER_STEPS``),
each a run stopped after that step less the run stopped before it. Instructions are not time: a
last-level miss costs ~100 of them, and the instructions of C code differ in cost (nor are
byte codes instructions: 3.11 specialises a dict subscript or a type test to a few dozen,
where a C call that builds a tuple takes hundreds). bench/domain_replay.py stays the measure of
CPU; this one says whether a change to an operator took work away, and how much, on any box.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.domain_replay import PEER_NAMES, PEER_STEPS, PEERS, SIDES, STEPS  # noqa: E402
from bench.kafka_throughput import spread  # noqa: E402

REPLAY = os.path.join(ROOT, "bench", "domain_replay.py")
CACHES = ("--I1=32768,8,64", "--D1=49152,12,64")  # size, ways, line; the last level: --ll
LL = "8388608,16"  # the last level simulated by default: size, ways (64-byte lines)
EVENTS = ("Ir", "D1mr", "D1mw", "DLmr", "DLmw", "Bcm", "Bim")  # cachegrind's names of what is read here


def counted(side: str, rounds: int, args, tmp: str, until: Optional[str] = None) -> Dict[str, int]:
    """cachegrind's totals for a run of ``side`` over ``rounds`` rounds (its steps up to ``until``;
    None: all)."""
    out = os.path.join(tmp, f"{side}-{until}-{rounds}.out")
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes", *CACHES, f"--LL={args.ll},64",
               f"--cachegrind-out-file={out}", sys.executable, REPLAY, "--side", side, "--rounds", str(rounds),
               "--backlog", args.backlog,
               *(["--until", until] if until is not None else [])]
    # no code cache (engine/code_cache.py): a run that wrote it and one that read it back would
    # differ in their set-up, which the difference of two runs must cancel
    env = {**os.environ, "PYTHONHASHSEED": "0", "VELOCITY_FLOW_NO_CACHE": "1"}
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    if run.returncode != 0:
        raise SystemExit(f"{side} ({rounds} rounds) failed:\n{run.stdout}{run.stderr[-2000:]}")
    return totals(out)


def totals(path: str) -> Dict[str, int]:
    """The ``summary:`` line of a cachegrind output file, by the names of its ``events:`` line."""
    names: List[str] = []
    with open(path) as out:
        for line in out:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("summary:"):
                return dict(zip(names, map(int, line.split()[1:])))
    raise SystemExit(f"no summary in {path}")


def per_message(two: Dict[str, int], one: Dict[str, int], messages: int) -> Dict[str, float]:
    """One warm round's counts per message: the run of two rounds less the run of one."""
    delta = {name: two[name] - one[name] for name in EVENTS}
    return {"Ir": delta["Ir"] / messages, "D1": (delta["D1mr"] + delta["D1mw"]) / messages,
            "LL": (delta["DLmr"] + delta["DLmw"]) / messages, "Bm": (delta["Bcm"] + delta["Bim"]) / messages}


def messages_of(args) -> int:
    """Make the backlog (kept in ``args.backlog`` for every run) and count its technical
    messages, as domain_replay.py does (its first line)."""
    run = subprocess.run([sys.executable, REPLAY, "--side", "engine", "--rounds", "0", "--transactions",
                          str(args.transactions), "--batch-size", str(args.batch_size), "--backlog", args.backlog],
                         capture_output=True, text=True, timeout=args.timeout, env={**os.environ, "PYTHONHASHSEED": "0"})
    if run.returncode != 0:
        raise SystemExit(run.stdout + run.stderr)
    first = run.stdout.split("\n", 1)[0]  # "backlog: N transactions, M technical messages, ..."
    return int(first.split(", ")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000, help="transactions in the backlog")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (each: both sides, one and two replays)")
    parser.add_argument("--batch-size", type=int, default=100, help="messages per batch of a topic")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for one run under valgrind")
    parser.add_argument("--steps", action="store_true",
                        help="then the engine's instructions per message step by step (runs stopped after each)")
    parser.add_argument("--ll", default=LL, metavar="SIZE,WAYS",
                        help=f"the last-level cache simulated (default {LL}: 8 MiB, 16 ways); 1048576,8 stands for a "
                             "core's 1 MiB second level, whose misses the 8 MiB simulation does not show")
    args = parser.parse_args()
    if re.fullmatch(r"[1-9][0-9]*,[1-9][0-9]*", args.ll) is None:
        parser.error(f"--ll {args.ll}: SIZE,WAYS in bytes and ways (cachegrind's --LL without its line size)")
    if shutil.which("valgrind") is None:
        print("valgrind is not on the PATH (Debian: apt-get install valgrind)", file=sys.stderr)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory(prefix="domain-instructions-") as tmp:
        args.backlog = os.path.join(tmp, "backlog.pickle")
        messages = messages_of(args)
        rounds(args, messages, tmp)
        if args.steps:
            split(args, messages, tmp)


def rounds(args, messages: int, tmp: str) -> None:
    print(f"backlog: {args.transactions} transactions, {messages} technical messages, batches of "
          f"{args.batch_size}; per message, one warm round (cachegrind; last level {args.ll},64)", flush=True)
    ratios: Dict[str, Dict[str, list]] = {peer: {"Ir": [], "LL": [], "Bm": []} for peer in PEERS}
    with ThreadPoolExecutor(2) as pool:
        for round_no in range(1, args.rounds + 1):
            sides = SIDES[round_no % 3:] + SIDES[:round_no % 3]  # interleaved: each side first in turn
            runs = {(side, n): pool.submit(counted, side, n, args, tmp) for side in sides for n in (1, 2)}
            figures = {side: per_message(runs[side, 2].result(), runs[side, 1].result(), messages) for side in SIDES}
            for peer in PEERS:
                for name in ("Ir", "LL", "Bm"):
                    ratios[peer][name].append(figures["engine"][name] / figures[peer][name])
            shown = "   ".join(f"{side}: Ir {f['Ir']:,.0f}  D1 {f['D1']:,.1f}  LL {f['LL']:,.2f}  Bm {f['Bm']:,.0f}"
                               for side, f in figures.items())
            print(f"round {round_no}: {shown}", flush=True)
    for peer in PEERS:
        print(f"ratio engine/{PEER_NAMES[peer]} branch mispredictions per message: {spread(ratios[peer]['Bm'])}")
        print(f"ratio engine/{PEER_NAMES[peer]} instructions per message: {spread(ratios[peer]['Ir'])}")
        print(f"ratio engine/{PEER_NAMES[peer]} LL misses per message: {spread(ratios[peer]['LL'])}")


def split(args, messages: int, tmp: str) -> None:
    """Each side's instructions per message in each of its steps: a run stopped after a step less
    the run stopped after the one before (the counts repeat to within a few hundred: no rounds)."""
    for side in SIDES:
        steps = STEPS if side == "engine" else PEER_STEPS
        with ThreadPoolExecutor(2) as pool:
            runs = {(step, n): pool.submit(counted, side, n, args, tmp, step) for step in steps for n in (1, 2)}
            cumulative = [per_message(runs[step, 2].result(), runs[step, 1].result(), messages)["Ir"] for step in steps]
        before = [0.0, *cumulative[:-1]]
        shown = [f"{step} {now - then:,.0f}" for step, now, then in zip(steps, cumulative, before, strict=True)]
        name = "engine" if side == "engine" else PEER_NAMES[side]
        print(f"{name} instructions per message by step: {'  '.join(shown)}  (all {cumulative[-1]:,.0f})", flush=True)

if __name__ == "__main__":
    main()
