"""Scale-out: CPU per event of ``velocity-flow deploy -p 1`` vs ``deploy -p 2`` on one backlog.

    python bench/scale_out.py [--events 200000] [--partitions 4] [--rounds 5]

Produces ``--events`` Debezium-looking change events into a topic of ``--partitions`` partitions
(bench/kafka_throughput.py's events and its Kafka -> Kafka topology: cast, filter, map, a Kafka
sink with every delivery confirmed, ``tail: false``), on a broker of its own. Then, in
interleaved rounds (p1, p2, p1, ...), ``velocity-flow deploy -p N`` drains the whole backlog into
a fresh topic with a fresh recovery store. With ``-p 2`` deploy starts two ``velocity-flow run``
processes of one Bytewax cluster and waits for them, so the ``RUSAGE_CHILDREN`` delta around deploy
(bench/domain_cpu.py's ``measured``) is the CPU of deploy and both processes; each run also sums
the CPU its processes showed in /proc as a check of that. Each round also runs both on an
empty topic of as many partitions: their start-up and shut-down CPU, which ``-p 2`` pays three
times (deploy and two processes) and ``-p 1`` once, to show the per-event cost without it.

Every round checks that both wrote the same records (key -> value) and one per event. Prints
per round, then ``ratio p2/p1 CPU per event``: median [min..max] of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.domain_cpu import deploy_command, measured  # noqa: E402
from bench.domain_latency import private_broker  # noqa: E402
from bench.kafka_throughput import TOPOLOGY, create_topics, produce, records, spread  # noqa: E402


def drain(bootstrap: str, state: str, source: str, partitions: int, processes: int, tag: str) -> tuple:
    """(measured run, output topic) of ``deploy -p processes`` of the topology on ``source``."""
    target = f"{source}-p{processes}-{tag}"
    create_topics(bootstrap, partitions, target)
    path = os.path.join(state, f"{target}.yaml")
    with open(path, "w") as out:
        out.write(TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target,
                                  dead=os.path.join(state, f"{target}-dead.jsonl")))
    return measured(deploy_command(path, os.path.join(state, f"recovery-{target}"), processes), os.environ), target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the topic (>= 2)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    args = parser.parse_args()
    with private_broker("scale-out-") as (state, bootstrap):
        run = uuid.uuid4().hex[:6]
        source, empty = f"scale-{run}", f"scale-empty-{run}"
        create_topics(bootstrap, args.partitions, source, empty)
        produce(bootstrap, source, args.events)
        print(f"backlog: {args.events} events in {args.partitions} partitions; per deploy: CPU us per event "
              "(start-up included / excluded), wall seconds, CPU seen in /proc / counted", flush=True)
        runs: dict = {1: [], 2: []}
        for round_no in range(1, args.rounds + 1):
            outputs, line = {}, []
            for processes in (1, 2):
                result, outputs[processes] = drain(bootstrap, state, source, args.partitions, processes, f"r{round_no}")
                idle, _ = drain(bootstrap, state, empty, args.partitions, processes, f"r{round_no}")
                result["startup"] = idle["cpu"]
                runs[processes].append(result)
                line.append(f"p{processes} {result['cpu'] / args.events * 1e6:5.1f} / "
                            f"{(result['cpu'] - idle['cpu']) / args.events * 1e6:5.1f} us {result['wall']:5.1f} s "
                            f"({result['processes']} processes, {result['seen']:.1f} / {result['cpu']:.1f} s)")
            one, two = records(bootstrap, outputs[1]), records(bootstrap, outputs[2])
            if one != two or len(one) != args.events:
                raise SystemExit(f"round {round_no}: -p 1 wrote {len(one)} records, -p 2 {len(two)}, "
                                 f"{'equal' if one == two else 'different'} ({args.events} events)")
            print(f"round {round_no}: " + "   ".join(line) + f"   ({len(one)} equal records)", flush=True)
        pairs = list(zip(runs[1], runs[2], strict=True))
        for processes in runs:
            print(f"p{processes}: CPU {statistics.median(r['cpu'] for r in runs[processes]):.2f} s per drain, "
                  f"start-up {statistics.median(r['startup'] for r in runs[processes]):.2f} s, "
                  f"wall {statistics.median(r['wall'] for r in runs[processes]):.1f} s (medians)")
        print(f"ratio p2/p1 wall time: {spread([two['wall'] / one['wall'] for one, two in pairs])}")
        print(f"ratio p2/p1 CPU per event, start-up excluded: "
              f"{spread([(two['cpu'] - two['startup']) / (one['cpu'] - one['startup']) for one, two in pairs])}")
        print(f"ratio p2/p1 CPU per event: {spread([two['cpu'] / one['cpu'] for one, two in pairs])}")


if __name__ == "__main__":
    main()
