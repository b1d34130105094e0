"""How fast the transport-order flow works off a backlog, with and without partition alignment.

    python bench/backlog_drain.py [--rate 2000] [--seconds 10]

Publishes ``seconds`` of the simulator's Debezium traffic at ``rate`` transactions/s (as
bench/domain_latency.py does: inline Connect schemas, END markers, lz4, append times) while no
flow runs - a restart after downtime, or a burst. Then starts the Kafka transport-order
topology and measures how long it takes to emit every domain event: once as shipped (the Kafka
source's ``align``, 100 ms by default) and once with ``align: false`` (the baseline, the same
backlog on fresh topics in the same run). Prints messages/s of each, the ratio, and the flow's
peak memory (what a backlog piles up in merge_transactions' state without alignment).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.domain_latency import (TABLES, append_time, create_topics, end_offset, private_broker,  # noqa: E402
                                  publish, read, technical_topics, workload)

FLOW = "transport_order_domain"
OUT = "velocity.domain.transport_order"


def topology(state: str, align: bool) -> str:
    """The shipped topology (run with its Kafka environment), or a copy whose Kafka sources all say
    ``align: false``."""
    shipped = os.path.join(ROOT, "topologies", "velocity", f"{FLOW}.yaml")
    if align:
        return shipped
    text = re.sub(r"^(\s+)(group_id: .*)$", r"\1\2\n\1align: false", open(shipped).read(), flags=re.M)
    path = os.path.join(state, f"{FLOW}-unaligned.yaml")
    with open(path, "w") as out:
        out.write(text)
    return path


def drain(bootstrap: str, state: str, txs: list, rate: float, align: bool) -> tuple:
    """(messages/s from the flow's start to its last domain event, domain events, peak RSS bytes)."""
    prefix = "drain" + uuid.uuid4().hex[:6]
    create_topics(bootstrap, technical_topics(prefix, TABLES[FLOW]))
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "VF_TOPIC_PREFIX": prefix, "VELOCITY_FLOW_ENV": "kafka"}
    path = topology(state, align)
    subprocess.run([sys.executable, "-m", "cli", "deploy", "--provision-only", path], cwd=ROOT, env=env,
                   capture_output=True, check=True, timeout=120)
    append_time(bootstrap, OUT)
    start = end_offset(bootstrap, OUT)
    publish(bootstrap, prefix, rate, txs)
    began = time.time()
    process = subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", "-s", "2", path],
                               cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        events = _wait_for_quiet(bootstrap, start)
        peak = _peak_memory(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    last = max(stamp for stamp, _ in events) / 1000
    return sum(len(t) for t in txs) / (last - began), len(events), peak


def _wait_for_quiet(bootstrap: str, start: int, quiet: float = 5.0, limit: float = 600) -> list:
    """The domain events, once none has come for ``quiet`` seconds."""
    deadline, count, changed = time.monotonic() + limit, -1, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = end_offset(bootstrap, OUT) - start
        if now != count:
            count, changed = now, time.monotonic()
        elif count > 0 and time.monotonic() - changed > quiet:
            break
    return read(bootstrap, OUT, start)


def _peak_memory(pid: int) -> int:
    """Peak resident memory of a process (Linux's VmHWM), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000, help="transactions per second of the backlog")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of traffic in the backlog")
    args = parser.parse_args()
    with private_broker("backlog-drain-") as (state, bootstrap):
        count = int(args.rate * args.seconds)
        txs = workload(f"{state}/tms", TABLES[FLOW], max(20, count // 2), 1)[:count]
        messages = sum(len(t) for t in txs)
        print(f"backlog: {len(txs)} transactions, {messages} messages ({args.seconds:g} s at {args.rate:g} tx/s)")
        print(f"{'kafka source':22} {'msgs/s':>8} {'domain events':>14} {'peak memory':>12}")
        results = {}
        for align in (False, True):
            rate, events, peak = drain(bootstrap, state, txs, args.rate, align)
            results[align] = rate
            label = "align: 100ms (default)" if align else "align: false"
            print(f"{label:22} {rate:8.0f} {events:14d} {peak / 1e6:9.0f} MB")
        print(f"ratio aligned / unaligned: {results[True] / results[False]:.2f}")


if __name__ == "__main__":
    main()
