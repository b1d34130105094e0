"""Scale-out counted while the flow runs: instructions per event of ``deploy -p 2`` vs ``-p 1``, start-up left out.

    python bench/scale_out_window.py [--events 10000] [--warm-up 1000] [--partitions 4] [--rounds 5] [--cpu]
                                     [--epoch SECONDS] [--keep DIR]

bench/scale_out.py ``--count`` takes the difference between two whole drains under cachegrind,
and its ``p2`` figures moved from 1.1x to 159x the others' from round to round: under Valgrind
a cluster's processes start tens of seconds apart, and one steps while it waits for the other,
which a difference of two drains does not cancel. Here every deployment runs as deployments
do, ``tail: true`` (it never ends by itself), every process under Valgrind's callgrind, on
topics of its own (A and B, ``--partitions / 2`` each; bench/kafka_throughput.py's events and
Kafka -> Kafka topology):

1. ``--warm-up`` events (half in A, half in B) go in, and the bench waits until the output
   topic holds them all: every process is up, has its partitions and has written;
2. every process's counters are zeroed (``callgrind_control -z``), ``--events`` more go in,
   and when the output holds them too the counters are dumped (``-d``): the instructions the
   processes executed to take the backlog, the waits within it included;
3. the deployment is stopped (SIGTERM, as a stop of ``deploy``).

``--cpu`` runs the processes natively and measures the CPU time /proc gives for every process
of the deployment (all their threads, librdkafka's too) over the same window instead: what the
cluster costs outside Valgrind, where a process runs ~50x slower and anything that happens per
unit of time (a wait with a timeout) ~50x more often per event.

``--epoch`` sets the deployments' epoch (``BYTEWAX_SNAPSHOT_INTERVAL``; deploy's default is
5 s). At the end of an epoch a source partition of Bytewax 0.21 reads nothing more until the
whole dataflow is past that epoch, and asks to be run again at once, so the worker steps
without work until then (unless the source asked for a nap: the engine's Kafka source does at
the batch it reads as the epoch is due to end); in a cluster that waits for the other process's
progress, which under Valgrind takes ~50x longer.

Kinds as in bench/scale_out.py: ``p1`` (one process reading A and B), ``p2`` (``deploy -p 2``:
two independent shares, each reading every other partition), ``p2c`` (``deploy -p 2 --cluster``:
two processes of one Bytewax cluster) and ``pair`` (two ``deploy -p 1``, one reading A and one
B, no cluster). Each window also counts ``deploy``'s own
process (it supervises). Every round checks that the kinds wrote the same records. Prints per
round the instructions (or CPU microseconds) per event of each, then ``ratio NAME: median [min..max]``.
"""

from __future__ import annotations

import argparse
import glob
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Optional, Tuple

from confluent_kafka import Consumer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.domain_cpu import _librdkafka_cpu, _threads, _tree  # noqa: E402
from bench.domain_instructions import totals  # noqa: E402
from bench.domain_latency import private_broker  # noqa: E402
from bench.kafka_throughput import create_topics, end_offsets, records, spread  # noqa: E402
from bench.scale_out import KINDS, RATIOS, deployments, produce_halves  # noqa: E402

WAIT = 1800  # seconds for one stage under Valgrind (~50x slower than natively)


def under_callgrind(command: list, tree: str) -> list:
    """``command``, and every process it starts, under callgrind: one output file per process
    (``PID.out``) in ``tree``, and one per dump (``PID.out.1``).

    ``--fair-sched=yes``: Valgrind runs one thread of a process at a time, and by default a
    thread that never blocks takes the lock back at once. A worker whose input waits for the
    cluster's frontier is such a thread (Bytewax activates it again and again), and the threads
    that carry the other process's progress then waited 0.6-1.9 s per epoch end for their turn,
    while the worker stepped ~14,000 times a second: `p2/pair` 1.06-13x from round to round where
    natively it is 1.1-1.2x. With a fair lock 1.079 [1.072..1.089] (3 rounds); interleaved single
    rounds 1.072 and 1.123 with it, 1.274 and 4.081 without (performance-log.md, 2026-12-03 20:21)."""
    return ["valgrind", "--tool=callgrind", "--fair-sched=yes", "--trace-children=yes",
            f"--callgrind-out-file={tree}/%p.out", *command]


def written(bootstrap: str, topic: str) -> int:
    """Records in ``topic`` (the sum of its partitions' end offsets: the sink writes no transaction markers)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{uuid.uuid4().hex}"})
    try:
        return sum(end_offsets(consumer, topic).values())
    finally:
        consumer.close()


def wait_for(bootstrap: str, topic: str, count: int, processes: list) -> None:
    deadline = time.monotonic() + WAIT
    while written(bootstrap, topic) < count:
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"a deployment writing {topic} ended before it wrote {count} records")
        if time.monotonic() > deadline:
            raise SystemExit(f"{topic}: {written(bootstrap, topic)} records after {WAIT} s, not {count}")
        time.sleep(0.5)


def callgrind(command: str) -> None:
    """``callgrind_control`` ``-z`` or ``-d`` for every process running under callgrind (this
    bench runs one deployment at a time, and nothing else here runs under callgrind)."""
    subprocess.run(["callgrind_control", command], check=True, capture_output=True, timeout=120)


def waiting_main(pid: int, threads: list) -> float:
    """CPU seconds so far of ``pid``'s main thread (of ``threads``, its ``_threads``) if its
    Bytewax workers run on threads of their own (``timely:work-N``: a cluster's process; with one
    worker and one process it runs on the main thread), else 0. That main thread only waits for
    the workers, but Bytewax 0.21's ``cluster_main`` wakes it every 1 ms to take the GIL and
    check for signals (src/run.rs)."""
    main = sum(seconds for tid, _, seconds in threads if tid == pid)
    workers = any(name.startswith(b"timely:work-") for _, name, _ in threads)
    return main if workers else 0.0


def cpu(processes: list) -> Tuple[float, float, float]:
    """CPU seconds so far of ``processes`` and their descendants: all their threads', their
    librdkafka threads' (``rdk:*``: the Kafka clients' own, where a busy producer shows), and
    their waiting main threads' (``waiting_main``)."""
    trees = [_tree(p.pid) for p in processes]  # pid -> CPU seconds, of each process and its descendants
    threads = {pid: _threads(pid) for tree in trees for pid in tree}  # /proc's task lists read once
    return (sum(sum(tree.values()) for tree in trees),
            sum(sum(_librdkafka_cpu(pid, listed).values()) for pid, listed in threads.items()),
            sum(waiting_main(pid, listed) for pid, listed in threads.items()))


def window(bootstrap: str, state: str, kind: str, tag: str, args) -> tuple:
    """(instructions, or with ``args.cpu`` CPU microseconds, per event; output topic; with
    ``args.cpu`` the parts of that CPU in librdkafka's threads and in waiting main threads, else
    None) of one ``kind`` taking ``args.events`` while it runs."""
    a, b, target = (f"{kind}-{tag}-{name}" for name in ("a", "b", "out"))
    create_topics(bootstrap, args.partitions // 2, a, b)
    create_topics(bootstrap, args.partitions, target)
    tree = os.path.join(args.keep or state, f"window-{kind}-{tag}")
    os.makedirs(tree)
    commands = deployments(bootstrap, state, (a, b), target, kind, 0, tail=True)
    env = dict(os.environ, **({"BYTEWAX_SNAPSHOT_INTERVAL": str(args.epoch)} if args.epoch else {}))
    processes = [subprocess.Popen(c if args.cpu else under_callgrind(c, tree), cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    before = after = (0.0, 0.0, 0.0)  # with args.cpu: cpu() as the window starts and ends
    try:
        produce_halves(bootstrap, (a, b), args.warm_up)
        wait_for(bootstrap, target, args.warm_up, processes)
        if args.cpu:
            before = cpu(processes)
        else:
            callgrind("-z")
        produce_halves(bootstrap, (a, b), args.events, first=args.warm_up)
        wait_for(bootstrap, target, args.warm_up + args.events, processes)
        if args.cpu:
            after = cpu(processes)
        else:
            callgrind("-d")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=300)
            except subprocess.TimeoutExpired:
                process.kill()
    if not args.cpu:
        return dumped(tree) / args.events, target, None
    spent, in_librdkafka, in_main = (end - start for start, end in zip(before, after, strict=True))
    return (spent * 1e6 / args.events, target,
            (in_librdkafka / spent, in_main / spent) if spent > 0 else (0.0, 0.0))


def _share(shares: Optional[Tuple[float, float]]) -> str:
    """`` (librdkafka 12%, main 3%)``: how much of a native window's CPU librdkafka's threads took
    (a producer busy-looping while the broker is slow shows as a large part), and, where there
    are any, the waiting main threads of a cluster's processes."""
    if shares is None:
        return ""
    librdkafka, main = shares
    return f" (librdkafka {librdkafka:.0%}" + (f", main {main:.0%})" if main else ")")


def dumped(tree: str) -> int:
    """The instructions of the window: the sum over the processes' first dumps (``PID.out.1``;
    ``PID.out`` holds what each did after it, up to its end)."""
    dumps = glob.glob(os.path.join(tree, "*.out.1"))
    if not dumps:
        raise SystemExit(f"no callgrind dump in {tree}")
    return sum(totals(path)["Ir"] for path in dumps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="events taken in the counted window")
    parser.add_argument("--warm-up", type=int, default=1_000, help="events taken before it")
    parser.add_argument("--partitions", type=int, default=4, help="partitions in all (even, >= 2)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    parser.add_argument("--cpu", action="store_true", help="natively: CPU microseconds per event, not instructions")
    parser.add_argument("--epoch", type=float, default=0, help="seconds per epoch of the deployments "
                                                                "(default: deploy's, 5)")
    parser.add_argument("--keep", default="", help="counted: a directory keeping callgrind's files "
                                                   "(window-KIND-rN-xxxx/PID.out.1: the window), to annotate")
    args = parser.parse_args()
    if args.partitions < 2 or args.partitions % 2:
        parser.error("--partitions must be even and >= 2")
    runs: dict = {kind: [] for kind in KINDS}
    unit = "CPU us" if args.cpu else "instructions"
    with private_broker("scale-window-") as (state, bootstrap):
        print(f"{args.warm_up} events to warm up, then {args.events} counted, in {args.partitions} partitions of "
              f"2 topics; {unit} per event of all the processes of each deployment"
              + (f"; epochs of {args.epoch:g} s" if args.epoch else ""), flush=True)
        for round_no in range(1, args.rounds + 1):
            outputs, shares = {}, {}
            for kind in KINDS:
                count, outputs[kind], shares[kind] = window(bootstrap, state, kind,
                                                            f"r{round_no}-{uuid.uuid4().hex[:4]}", args)
                runs[kind].append(count)
            found = [records(bootstrap, outputs[kind]) for kind in KINDS]
            if any(f != found[0] for f in found) or len(found[0]) != args.warm_up + args.events:
                sizes = ", ".join(f"{kind} wrote {len(f)}" for kind, f in zip(KINDS, found, strict=True))
                raise SystemExit(f"round {round_no}: {sizes}, not all the same {args.warm_up + args.events}")
            digits = 1 if args.cpu else 0
            print(f"round {round_no}: " + "   ".join(f"{kind} {runs[kind][-1]:,.{digits}f}" + _share(shares[kind])
                                                      for kind in KINDS)
                  + f"   ({len(found[0])} equal records)", flush=True)
    for a, b in RATIOS:
        print(f"ratio {a}/{b} {unit} per event: {spread([x / y for x, y in zip(runs[a], runs[b], strict=True)])}")


if __name__ == "__main__":
    main()
