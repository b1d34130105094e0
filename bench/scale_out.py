"""Scale-out: CPU per event of ``velocity-flow deploy -p 2`` vs ``-p 1``, and vs two independent runs.

    python bench/scale_out.py [--events 200000] [--partitions 4] [--rounds 5] [--batch-size N]

Produces ``--events`` Debezium-looking change events (bench/kafka_throughput.py's events and
its Kafka -> Kafka topology: cast, filter, map, a Kafka sink with every delivery confirmed,
``tail: false``), the first half into topic A, the second into topic B, each of
``--partitions / 2`` partitions, on a broker of its own. Then, in interleaved rounds, each of
these drains the backlog into a fresh topic with fresh recovery stores:

* ``p1``: ``velocity-flow deploy -p 1`` of the topology reading A and B (``topics: [A, B]``);
* ``p2``: ``deploy -p 2`` of it: the flow keeps no keyed state, so two independent ``velocity-flow
  run --share I/2`` processes, each reading every other partition of each topic (engine/shares.py);
* ``p2c``: ``deploy -p 2 --cluster``: two processes of one Bytewax cluster, each reading half of
  the partitions, exchanging progress (and nothing else);
* ``pair``: two ``deploy -p 1`` started together, one reading A and one B, writing to one
  topic: the same two busy processes on the same box, with no coordination between them.

CPU is the ``RUSAGE_CHILDREN`` delta around deploy (or around the shell that starts and waits
for the pair): deploy waits for its processes, so it covers all of them
(bench/domain_cpu.py's ``measured``; each run also sums the CPU its processes showed in /proc
as a check, and the part of it in librdkafka's threads: an idempotent producer whose broker is
slow to answer busy-loops in one of them, docs/performance.md). Each round also runs each on
empty topics: its start-up and shut-down CPU (``p2`` and ``pair`` pay it for three and two
interpreters), to show the per-event cost without it.

Ratios, start-up excluded: ``p2/p1`` is what a second process costs per event on this box
(2 cores, the broker on them too); ``p2/pair`` and ``p2c/pair`` are what deploy's shares and a
cluster's coordination cost, with the contention of two busy processes on two shared cores in
all. Every deployment keeps its dead letters on a topic, as deployments do. Every round checks that all
the kinds wrote the same records (key -> value), one per event. Prints per round, then
``ratio NAME: median [min..max]`` of the per-round ratios.

``--count`` (with ~40,000 events: each process runs ~50x slower) runs every process under
Valgrind's cachegrind and prints instructions per event instead of CPU: what each deployment
executes, whatever else the box is doing. The second topics then hold half the backlog, not
nothing, and a run's instructions per event are the difference between its two drains over the
events between them: start-up, shut-down and the waits around them cancel out. ``p1`` and
``pair`` repeat their counts to ~1%; ``p2``'s move from round to round, as the cluster's own
work depends on when each process hears from the other (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import uuid
from itertools import zip_longest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.domain_cpu import deploy_command, measured  # noqa: E402
from bench.domain_instructions import totals  # noqa: E402
from bench.domain_latency import private_broker  # noqa: E402
from bench.kafka_throughput import (  # noqa: E402
    TOPOLOGY,
    backlog_producer,
    create_topics,
    records,
    spread,
    write_event,
)

KINDS = ("p1", "p2", "p2c", "pair")
RATIOS = (("p2", "p1"), ("pair", "p1"), ("p2", "pair"), ("p2c", "pair"))


def _deployment(bootstrap: str, state: str, topics: list, target: str, processes: int, name: str,
                batch_size: int, tail: bool = False, cluster: bool = False) -> list:
    """The command that deploys the topology reading ``topics`` into ``target`` (``tail``: and
    waiting for more at their end, as a deployment does, instead of stopping there)."""
    path = os.path.join(state, f"{name}.yaml")
    text = TOPOLOGY.format(bootstrap=bootstrap, source="SOURCE", target=target, dead="DEAD")
    # dead letters on a topic, as deployments keep them (every kind the same)
    create_topics(bootstrap, 1, f"{name}-dead")
    text = text.replace('dead_letter: {file: {path: "DEAD"}}',
                        f'dead_letter: {{kafka: {{brokers: "{bootstrap}", topic: {name}-dead}}}}')
    if tail:
        text = text.replace("tail: false", "tail: true")
    read = f"topics: [{', '.join(topics)}]" + (f", batch_size: {batch_size}" if batch_size else "")
    with open(path, "w") as out:  # the bench topology's one topic becomes a list (and a batch size)
        out.write(text.replace("topic: SOURCE", read))
    command = deploy_command(path, os.path.join(state, f"recovery-{name}"), processes)
    return command[:-1] + ["--cluster", command[-1]] if cluster else command


def deployments(bootstrap: str, state: str, topics, target: str, kind: str, batch_size: int,
                tail: bool = False) -> list:
    """The commands of one ``kind`` (module docstring) reading ``topics`` (A and B) into ``target``:
    one deploy, or for ``pair`` one per topic."""
    if kind == "pair":
        return [_deployment(bootstrap, state, [topic], target, 1, f"{target}-{n}", batch_size, tail)
                for n, topic in enumerate(topics)]
    return [_deployment(bootstrap, state, list(topics), target, 1 if kind == "p1" else 2, target, batch_size, tail,
                        cluster=kind == "p2c")]


def produce_halves(bootstrap: str, topics, count: int, first: int = 0) -> None:
    """Events ``first`` .. ``first + count - 1``: the first half into topic A, the rest into B,
    written side by side (A's i-th event, then B's), so that a deployment reading one topic
    gets its events while one reading the other gets its own. bench/scale_out_window.py writes
    them while the deployments run: written A first, `pair`'s process reading B started its
    work a second late, and the two were seldom busy at once, as `p2`'s two always are."""
    half = count // 2
    producer = backlog_producer(bootstrap)
    for pair in zip_longest(range(first, first + half), range(first + half, first + count)):
        for topic, number in zip(topics, pair, strict=True):
            if number is not None:  # (None: an odd count, B has one event more)
                write_event(producer, topic, number)
    if producer.flush(120):
        raise SystemExit("the backlog was not all written within 120 s")


def counted(command: list, tree: str) -> list:
    """``command`` under cachegrind, every process it starts too (one output file each in ``tree``)."""
    os.makedirs(tree)
    return ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
            f"--cachegrind-out-file={tree}/%p.out", *command]


def instructions(tree: str) -> int:
    """The instructions of all the processes of a counted run (cachegrind's ``.out`` files)."""
    return sum(totals(os.path.join(tree, name))["Ir"] for name in os.listdir(tree) if name.endswith(".out"))


def drain(bootstrap: str, state: str, topics: tuple, partitions: int, kind: str, tag: str, batch_size: int,
          count: bool = False, keep: str = "") -> tuple:
    """(measured run, output topic) of one ``kind`` (module docstring) draining ``topics``;
    ``count``: under cachegrind, the run's ``instructions`` too (its files kept in ``keep``)."""
    target = f"{topics[0]}-{kind}-{tag}"
    create_topics(bootstrap, partitions, target)
    commands = deployments(bootstrap, state, topics, target, kind, batch_size)
    command = commands[0]
    if kind == "pair":  # both at once; the shell waits for both (their CPU is its children's), fails if either does
        one, two = map(shlex.join, commands)
        command = ["sh", "-c", f"{one} & a=$!; {two} & b=$!; wait $a || exit 1; wait $b"]
    if not count:
        return measured(command, os.environ), target
    tree = os.path.join(keep or state, f"counts-{target}")
    result = measured(counted(command, tree), os.environ, timeout=3600)
    result["instructions"] = instructions(tree)
    return result, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4, help="partitions in all (even, >= 2)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    parser.add_argument("--batch-size", type=int, default=0, help="the source's batch_size (default: its own)")
    parser.add_argument("--count", action="store_true",
                        help="run every process under cachegrind: instructions per event, not CPU (~40000 events)")
    parser.add_argument("--keep", default="", help="with --count: a directory keeping cachegrind's files "
                                                    "(counts-TOPIC/PID.out per run), for cg_annotate")
    args = parser.parse_args()
    if args.partitions < 2 or args.partitions % 2:
        parser.error("--partitions must be even and >= 2")
    with private_broker("scale-out-") as (state, bootstrap):
        run = uuid.uuid4().hex[:6]
        full, empty = (f"scale-{run}-a", f"scale-{run}-b"), (f"scale-empty-{run}-a", f"scale-empty-{run}-b")
        create_topics(bootstrap, args.partitions // 2, *full, *empty)
        produce_halves(bootstrap, full, args.events)
        # --count: the "empty" topics hold half the backlog; the difference between the two drains
        # is the work of the other half, without start-up, shut-down or the waits around them
        based = args.events // 2 if args.count else 0
        if based:
            produce_halves(bootstrap, empty, based)
        print(f"backlog: {args.events} events in {args.partitions} partitions of 2 topics; per run: CPU us per "
              "event (start-up included / excluded), wall seconds, CPU seen in /proc / counted", flush=True)
        runs: dict = {kind: [] for kind in KINDS}
        for round_no in range(1, args.rounds + 1):
            outputs, line = {}, []
            for kind in KINDS:
                tag = f"r{round_no}"
                result, outputs[kind] = drain(bootstrap, state, full, args.partitions, kind, tag, args.batch_size,
                                              args.count, args.keep)
                idle, _ = drain(bootstrap, state, empty, args.partitions, kind, tag, args.batch_size, args.count,
                                args.keep)
                result["startup"] = idle["cpu"]
                runs[kind].append(result)
                if args.count:
                    result["work"] = (result["instructions"] - idle["instructions"]) / (args.events - based)
                    line.append(f"{kind} {result['work']:,.0f} instructions per event")
                    continue
                line.append(f"{kind} {result['cpu'] / args.events * 1e6:5.1f} / "
                            f"{(result['cpu'] - idle['cpu']) / args.events * 1e6:5.1f} us {result['wall']:5.1f} s "
                            f"({result['processes']} processes, {result['seen']:.1f} / {result['cpu']:.1f} s, "
                            f"librdkafka {result['librdkafka']:.1f} s)")
            written = [records(bootstrap, outputs[kind]) for kind in KINDS]
            if any(w != written[0] for w in written) or len(written[0]) != args.events:
                counts = ", ".join(f"{kind} wrote {len(w)} records" for kind, w in zip(KINDS, written, strict=True))
                raise SystemExit(f"round {round_no}: {counts}, not all equal ({args.events} events)")
            print(f"round {round_no}: " + "   ".join(line) + f"   ({len(written[0])} equal records)", flush=True)
        if args.count:  # instructions per event, start-up excluded
            for a, b in RATIOS:
                print(f"ratio {a}/{b} instructions per event: "
                      f"{spread([x['work'] / y['work'] for x, y in zip(runs[a], runs[b], strict=True)])}")
            return
        for kind in KINDS:
            print(f"{kind}: CPU {statistics.median(r['cpu'] for r in runs[kind]):.2f} s per drain, "
                  f"start-up {statistics.median(r['startup'] for r in runs[kind]):.2f} s, "
                  f"wall {statistics.median(r['wall'] for r in runs[kind]):.1f} s (medians)")

        def ratio(a: str, b: str, key=lambda r: r["cpu"] - r["startup"]) -> str:
            return spread([key(x) / key(y) for x, y in zip(runs[a], runs[b], strict=True)])
        print(f"ratio p2/p1 wall time: {ratio('p2', 'p1', lambda r: r['wall'])}")
        print(f"ratio p2/p1 CPU per event: {ratio('p2', 'p1', lambda r: r['cpu'])}")
        print(f"ratio pair/p1 CPU per event, start-up excluded: {ratio('pair', 'p1')}")
        print(f"ratio p2/pair CPU per event, start-up excluded: {ratio('p2', 'pair')}")
        print(f"ratio p2c/pair CPU per event, start-up excluded: {ratio('p2c', 'pair')}")
        print(f"ratio p2/p1 CPU per event, start-up excluded: {ratio('p2', 'p1')}")


if __name__ == "__main__":
    main()
