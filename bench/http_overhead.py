"""The cost of ``run --http`` on the Kafka -> Kafka flow: the endpoint on and scraped every second
vs off, in the same run.

    python bench/http_overhead.py [--events 500000] [--rounds 5] [--partitions 4] [--bootstrap HOST:PORT]

Produces N Debezium-looking change events once (bench/kafka_throughput.py's events and its
cast + filter + map topology, Kafka source -> Kafka sink, every delivery confirmed), then, in
interleaved rounds (off, on, off, on, ...), runs the topology in a fresh process through the
CLI's run path (cli/running.py ``run_topology``): ``off`` without ``--http``, ``on`` with
``--http 127.0.0.1:0`` while this process scrapes ``/metrics`` and ``/api/v1/status`` every
second from outside, as Prometheus and the page would. Each run reads the topic from the start
to its end (``tail: false``) into a topic of its own; its time is that of ``run_topology``.
Without --bootstrap (or VELOCITY_KAFKA_BOOTSTRAP) a broker is started with scripts/kafka.
Prints per round, then, last, ``ratio on/off: median [min..max]`` of the per-round ratios of
events/s (goal: above 0.98, i.e. under 2% overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kafka_throughput as kt  # noqa: E402

MODES = ("off", "on")


def child(mode: str, bootstrap: str, source: str, target: str, status_file: str) -> None:
    """One run of the topology through the CLI's run path; prints its seconds as JSON."""
    from cli.main import SafeConsole
    from cli.observe.address import HttpOptions
    from cli.running import run_topology
    from engine.binding import validate_text
    from engine.runtime.runner import RunOptions

    with tempfile.TemporaryDirectory() as tmp:
        text = kt.TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target,
                                  dead=os.path.join(tmp, "dead.jsonl"))
        result = validate_text("kafka-bench.yaml", text, env={})
        if not result.ok or result.topology is None:
            raise SystemExit("\n".join(d.message for d in result.diagnostics))
        http = HttpOptions("127.0.0.1", 0) if mode == "on" else None
        console = SafeConsole(stderr=True)
        started = time.perf_counter()
        code = run_topology(result.topology, RunOptions(), console, console, quiet=True, status_file=status_file,
                            http=http)
        seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the run failed: exit {code}")
    print(json.dumps({"seconds": seconds}))


def scrape(status_file: str, stop: threading.Event, counts: dict) -> None:
    """Every second, /metrics and /api/v1/status of the run, as a Prometheus server and the page would."""
    base = None
    while not stop.wait(1.0 if base else 0.05):
        if base is None:
            try:
                with open(status_file, encoding="utf-8") as handle:
                    base = json.load(handle).get("http")
            except (OSError, ValueError):
                continue
            continue
        for path in ("/metrics", "/api/v1/status"):
            try:
                with urllib.request.urlopen(base + path, timeout=5) as response:
                    response.read()
                counts["scrapes"] += 1
            except OSError:
                pass


def run(mode: str, args, source: str, target: str, tmp: str) -> float:
    status_file = os.path.join(tmp, f"status-{uuid.uuid4().hex}.json")
    stop, counts = threading.Event(), {"scrapes": 0}
    scraper = threading.Thread(target=scrape, args=(status_file, stop, counts), daemon=True)
    if mode == "on":
        scraper.start()
    try:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", mode, "--bootstrap",
                               args.bootstrap, "--source", source, "--target", target, "--status-file", status_file],
                              capture_output=True, text=True, timeout=3600)
    finally:
        stop.set()
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    if mode == "on" and counts["scrapes"] == 0:
        raise SystemExit("the endpoint was never scraped: the run is too short (raise --events)")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each mode")
    parser.add_argument("--bootstrap", help="an existing broker (default: start one with scripts/kafka)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--status-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bootstrap, args.source, args.target, args.status_file)
        return
    args.bootstrap, state = kt.broker(args)
    run_id = uuid.uuid4().hex[:8]
    source = f"http-bench-{run_id}"
    try:
        kt.create_topics(args.bootstrap, args.partitions, source)
        print(f"produced {args.events:,} events in {kt.produce(args.bootstrap, source, args.events):.1f}s", flush=True)
        rates: dict = {mode: [] for mode in MODES}
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(args.rounds):
                for mode in MODES:
                    target = f"http-bench-{mode}-{run_id}-{round_no}"
                    kt.create_topics(args.bootstrap, args.partitions, target)
                    rates[mode].append(args.events / run(mode, args, source, target, tmp))
                print(f"round {round_no + 1}: " + "   ".join(f"{mode} {rates[mode][-1]:>9,.0f} ev/s" for mode in MODES),
                      flush=True)
        ratios = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
        print(f"ratio on/off: {kt.spread(ratios)}")
    finally:
        if state is not None:
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kafka"), "stop", "--state-dir", state],
                           capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
