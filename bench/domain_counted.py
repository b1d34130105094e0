"""Instructions of technical -> domain through Kafka: the topology's fixed and per-message costs vs the checked peer.

    python bench/domain_counted.py [--small 1000] [--large 10000] [--rounds 5] [--against CHECKOUT]

bench/domain_cpu.py measures CPU seconds of whole drains; on a shared 2-core box they swing by
10-15% from one round to the next, and the medians of two runs of five rounds differ by as
much. This bench counts the instructions of the same drains, which do not swing, under
Valgrind's cachegrind (no cache simulation: only ``Ir``). A private broker holds two backlogs
of domain_cpu.py's workload (``--small`` and ``--large`` transactions) and empty topics; each
round drains each of them, once by ``velocity-flow deploy`` of the transport-order topology (as
domain_cpu.py runs it: its own recovery store and domain topic) and once by
bench/domain_peer_checked.py (the peer making the topology's checks), two runs at a time, each
side first in turn. From the two drains a side's count splits into

* **per message**: (large - small) / (messages of large - messages of small): the work a
  message adds, everything included (librdkafka's threads, Bytewax, the sink);
* **fixed**: what is left of the large drain: the start-up, and what the first messages cost
  once (code generated at run time, converters made) -- the **idle** run on empty topics is
  the start-up alone.

The topology runs with ``-s 100000`` (no snapshot before the end of the drain): under Valgrind a
drain takes ~40x its wall time, so deploy's 5 s epochs would add snapshots of the merge's state
a native drain of a few seconds does not take (the count of the large drain went from 11.29G to
11.65G with them). Hash seeds are fixed (``PYTHONHASHSEED=0``); what still moves a count is how
often a source polls an empty queue while librdkafka fetches, a few tenths of a percent. The
topology's generated code is kept as the engine keeps it (engine/code_cache.py): round 1's
first drain writes it, every later start reads it back (round 1 counts that write in its fixed
part); ``VELOCITY_FLOW_NO_CACHE=1`` counts every start without it.

Prints per round each side's idle, fixed and per-message counts, then ``ratio topology/peer-
checked instructions per message``, ``... fixed instructions`` and ``... instructions, N
messages`` (the large drain whole: what domain_cpu.py's "CPU per message, start-up included"
counts): median [min..max]. ``--against CHECKOUT`` (another checkout of this repository, e.g. a
``git worktree`` of an older commit) drains its topology too in every round and adds the same
three ratios for ``topology/against``: a change's effect in instructions, which one run of
domain_cpu.py's ``--against`` does not resolve under ~10%. Needs ``valgrind`` on the PATH (exit 2
without it) and ~6 minutes for 5 rounds (~9 with ``--against``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Tuple

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.bytecode import engine_build, installed_env  # noqa: E402
from bench.domain_cpu import FLOW, TOPOLOGY, deploy_command  # noqa: E402
from bench.domain_instructions import totals  # noqa: E402
from bench.domain_latency import TABLES, create_topics, private_broker, publish, technical_topics, workload  # noqa: E402
from bench.kafka_throughput import spread  # noqa: E402

SIDES = ("topology", "peer-checked")
NO_SNAPSHOT = "100000"  # seconds between snapshots: none before the drain ends (the docstring)


def drained(side: str, bootstrap: str, prefix: str, state: str, tag: str, env: dict, against: str = "") -> int:
    """The instructions of one drain of ``prefix``'s topics by ``side`` (``against``: the topology
    of that checkout)."""
    out = os.path.join(state, f"cg-{side}-{tag}.out")
    valgrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}"]
    if side in ("topology", "against"):
        command = deploy_command(TOPOLOGY, os.path.join(state, f"recovery-{tag}"))
        command[command.index("-p"):command.index("-p")] = ["-s", NO_SNAPSHOT]
        env = {**env, "KAFKA_BOOTSTRAP": bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_DOMAIN_PREFIX": f"{prefix}-{tag}",
               "VF_KAFKA_TAIL": "false", "VELOCITY_FLOW_ENV": "kafka"}
    else:
        target = f"{prefix}.checked-{tag}"
        create_topics(bootstrap, [target])
        command = [sys.executable, os.path.join("bench", "domain_peer_checked.py"), bootstrap, prefix, target]
    cwd = against if side == "against" else ROOT  # (python -m cli: the checkout's engine first on sys.path)
    run = subprocess.run(valgrind + command, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    if run.returncode != 0:
        raise SystemExit(f"{side} on {prefix} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
    return totals(out)["Ir"]


def split(idle: int, small: Tuple[int, int], large: Tuple[int, int]) -> Dict[str, float]:
    """(instructions, messages) of the two drains -> idle, fixed and per-message counts."""
    per_message = (large[0] - small[0]) / (large[1] - small[1])
    return {"idle": idle, "fixed": large[0] - per_message * large[1], "per_message": per_message, "large": large[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="transactions of the small backlog")
    parser.add_argument("--large", type=int, default=10000, help="transactions of the large backlog")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (each: both sides, three drains each)")
    parser.add_argument("--against", metavar="CHECKOUT",
                        help="another checkout of this repository: its topology drains the same backlogs in the "
                             "same rounds, and the ratios include topology/against")
    args = parser.parse_args()
    against = os.path.abspath(args.against) if args.against else ""
    if against and not os.path.isfile(os.path.join(against, TOPOLOGY)):
        parser.error(f"--against {args.against}: no {TOPOLOGY} there")
    if shutil.which("valgrind") is None:
        print("valgrind is not on the PATH", file=sys.stderr)
        raise SystemExit(2)
    if not 0 < args.small < args.large:
        parser.error("--small must be above 0 and below --large")
    with private_broker("domain-counted-") as (state, bootstrap):
        prefixes, messages = {}, {}
        for name, count in (("idle", 0), ("small", args.small), ("large", args.large)):
            prefixes[name] = f"{name}{uuid.uuid4().hex[:6]}"
            create_topics(bootstrap, technical_topics(prefixes[name], TABLES[FLOW]))
            if count:
                with tempfile.TemporaryDirectory(prefix="domain-counted-tms-") as tms:
                    # ~3.5 transactions per order touch the transport-order tables (domain_cpu.py's workload)
                    txs = workload(f"{tms}/tms", TABLES[FLOW], max(20, count // 3), 1)[:count]
                publish(bootstrap, prefixes[name], 1e9, txs)
                messages[name] = sum(len(t) for t in txs)
        print(f"backlogs: {args.small} and {args.large} transactions, {messages['small']} and {messages['large']} "
              "technical messages; instructions (cachegrind)", flush=True)
        print(f"topology: {engine_build()}" + (f"; against: {engine_build(against)}" if against else ""), flush=True)
        env = {**installed_env(), "PYTHONHASHSEED": "0"}  # byte code as pip install caches it (bench/bytecode.py)
        if against:  # (its byte code too)
            subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "cli"], cwd=against, env=env,
                           check=True, timeout=300, stdout=subprocess.DEVNULL)
        sides = SIDES + (("against",) if against else ())
        whole = f"{messages['large']} messages"
        ratios: Dict[str, Dict[str, list]] = {f"topology/{other}": {"fixed": [], whole: [], "per message": []}
                                              for other in sides[1:]}
        for round_no in range(1, args.rounds + 1):
            order = sides if round_no % 2 else sides[::-1]
            runs = [(side, name) for name in ("large", "small", "idle") for side in order]
            tags = [f"r{round_no}-{side}-{name}" for side, name in runs]
            with ThreadPoolExecutor(2) as pool:  # two at a time: the box's two cores
                counts = dict(zip(runs, pool.map(drained, [side for side, _ in runs], [bootstrap] * len(runs),
                                                 [prefixes[name] for _, name in runs], [state] * len(runs), tags,
                                                 [env] * len(runs), [against] * len(runs)), strict=True))
            got = {side: split(counts[side, "idle"], (counts[side, "small"], messages["small"]),
                               (counts[side, "large"], messages["large"])) for side in sides}
            print(f"round {round_no}: " + "   ".join(
                f"{side}: idle {got[side]['idle'] / 1e6:.0f}M, fixed {got[side]['fixed'] / 1e6:.0f}M, "
                f"{got[side]['per_message']:,.0f} per message" for side in sides), flush=True)
            for other in sides[1:]:
                ours, theirs, kept = got["topology"], got[other], ratios[f"topology/{other}"]
                kept["fixed"].append(ours["fixed"] / theirs["fixed"])
                kept[whole].append(ours["large"] / theirs["large"])
                kept["per message"].append(ours["per_message"] / theirs["per_message"])
        for name, kept in ratios.items():
            print(f"ratio {name} fixed instructions: {spread(kept['fixed'])}")
            print(f"ratio {name} instructions, {whole}: {spread(kept[whole])}")
            print(f"ratio {name} instructions per message: {spread(kept['per message'])}")


if __name__ == "__main__":
    main()
