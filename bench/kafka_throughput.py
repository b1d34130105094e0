"""Kafka -> Kafka throughput and memory: a topology vs raw confluent-kafka vs Quix Streams.

    python bench/kafka_throughput.py [--events 1000000] [--rounds 5] [--partitions 4]
        [--bootstrap HOST:PORT] [--workers N] [--quix-python PATH]

Produces N Debezium-looking JSON change events into a topic, then, in interleaved rounds on the
same broker, each in a fresh process (its peak RSS measured):

* ``raw``: a confluent-kafka consumer reading every message and an idempotent producer
  (acks=all) writing each value to another topic, nothing else: the ceiling;
* ``raw-json``: the same loop, each value parsed and written again with orjson
  (``dumps(loads(value))``): the ceiling of any flow that reads its events as JSON and writes
  JSON, before it does anything with them;
* ``topology``: a cast + filter + map topology, Kafka source -> Kafka sink, every delivery
  confirmed, error boundaries on;
* ``quix``: the same work in Quix Streams (``Application``, ``apply``/``filter``/``apply``,
  ``to_topic``; orjson, the same decimal and timestamp conversions, an idempotent producer with
  acks=all), if importable by ``--quix-python`` (default: this Python). Quix Streams pins an
  older confluent-kafka than the engine allows, so it is best kept in a virtualenv of its own:
  ``python -m venv /tmp/quix && /tmp/quix/bin/pip install quixstreams`` (or ``pip install
  '.[bench]'`` in a throw-away env), then ``--quix-python /tmp/quix/bin/python``.

The first round checks that the topology and Quix write the same records (key -> value).
Without --bootstrap (or VELOCITY_KAFKA_BOOTSTRAP) a broker is started with scripts/kafka and
stopped at the end. ``--warm-up`` raw runs (1 by default) go before the rounds, not counted: a
fresh broker's JVM has not compiled its hot paths yet, and raw, which the broker bounds, ran
124k events/s in the first round after the start and 195-490k later (2026-12-05): a first
round flattered every flow's ratio to raw. Prints the load average before and after the rounds (the box is often
shared: ratios from a loaded box understate a flow that needs more CPU), per round, then, last,
``rss NAME: MiB``, ``cpu NAME: us/event`` (the flow's process CPU time over its timed part,
every thread's, librdkafka's included), ``main thread cpu NAME: us/event`` (the thread that
runs the flow's Python: what bounds a flow's rate on one worker, whatever the broker does),
``ratio topology/raw`` / ``ratio topology/raw-json`` / ``ratio raw-json/raw`` (how much of the
ceiling a loop keeps that only parses and writes JSON) /
``ratio topology/quix`` (throughput) and ``ratio cpu topology/NAME`` (the peer's CPU per event
over the topology's: a box shared with other work moves it less than the wall clock): median
[min..max] of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import orjson  # noqa: E402
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from engine.connectors.kafka_defaults import PRODUCER  # noqa: E402  (no imports of its own)
from engine.connectors.kafka_tuning import PREFETCH  # noqa: E402  (no engine imports either)

TOPOLOGY = """\
version: 1
name: kafka-bench
sources:
  technical: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false}}}}
steps:
  - id: typed
    cast: {{fields: {{after.order_id: int, after.weight_kg: "decimal(10,3)", after.planned_at: timestamp}}}}
  - id: changes
    filter: "op != 'd' and after.weight_kg > 0"
  - id: domain
    map:
      key: "str(after.order_id)"
      fields: {{order_id: after.order_id, status: upper(after.status), weight_kg: after.weight_kg,
               planned_at: after.planned_at, tx: source.txId, lsn: source.lsn}}
sinks:
  domain: {{from: domain, kafka: {{brokers: "{bootstrap}", topic: {target}}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""
FLOWS = ("raw", "raw-json", "topology", "quix")
# A librdkafka consumer whose prefetch queue is full stops fetching for fetch.queue.backoff.ms,
# 1000 ms by default: raw drained its 64 MiB in ~0.3 s and idled the rest of each second (1M events
# in 5.2-6.1 s, 6 runs; 1.75-2.2 s with 5 ms, 2026-12-06). The topology's source sets it to 5 ms
# (engine/connectors/kafka_tuning.py), so the ceiling's consumer does too; until then every figure
# against raw compared the topology with a ceiling throttled by that default.
RAW_CONSUMER = {"fetch.queue.backoff.ms": PREFETCH["fetch.queue.backoff.ms"]}


def technical_event(i: int) -> bytes:
    return json.dumps({
        "before": None,
        "after": {"order_id": str(i), "status": ["new", "planned", "picked_up"][i % 3],
                  "weight_kg": f"{(i % 2500) + 0.125:.3f}", "customer": "ACME",
                  "planned_at": f"2026-11-02T06:{i // 60 % 60:02d}:{i % 60:02d}Z"},
        "source": {"version": "2.7.3.Final", "connector": "postgresql", "name": "tms", "db": "tms",
                   "schema": "public", "table": "transport_order", "txId": 1000 + i // 5, "lsn": 24023128 + i * 64,
                   "ts_ms": 1793600000000 + i},
        "op": "c" if i % 10 else "u", "ts_ms": 1793600000123 + i,
    }).encode()


def create_topics(bootstrap: str, partitions: int, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})  # no "Purging ..." line at exit
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(timeout=30)


def backlog_producer(bootstrap: str) -> Producer:
    """The producer that writes a bench's backlog (large batches, a deep local queue)."""
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000,
                     "queue.buffering.max.messages": 1000000})


def write_event(producer: Producer, topic: str, number: int) -> None:
    """Event ``number`` into ``topic``, keyed by its number; a full local queue drains first."""
    while True:
        try:
            producer.produce(topic, technical_event(number), key=str(number).encode())
            return
        except BufferError:
            producer.poll(0.05)


def produce(bootstrap: str, topic: str, count: int, first: int = 0) -> float:
    """Events ``first`` .. ``first + count - 1`` into ``topic``: seconds it took."""
    producer = backlog_producer(bootstrap)
    started = time.perf_counter()
    for i in range(first, first + count):
        write_event(producer, topic, i)
    assert producer.flush(120) == 0
    return time.perf_counter() - started


# -- the three flows, each run in a child process ------------------------------------------------
def raw_copy(bootstrap: str, source: str, target: str, count: int, parse: bool = False) -> float:
    """The ceiling: consume every message and produce its value, nothing in between (with
    ``parse``, the value parsed and serialized again by orjson)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **RAW_CONSUMER})
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})  # configured as the Kafka sink's
    consumer.subscribe([source])
    loads, dumps = orjson.loads, orjson.dumps
    seen, started = 0, _start()
    while seen < count:
        for message in consumer.consume(1000, 1.0):
            if message.error():
                continue
            value = dumps(loads(message.value())) if parse else message.value()  # type: ignore[arg-type]  # no tombstones
            while True:
                try:
                    producer.produce(target, value, key=message.key())
                    break
                except BufferError:
                    producer.poll(0.05)
            seen += 1
        producer.poll(0)
    assert producer.flush(120) == 0
    elapsed = _elapsed(started)
    consumer.close()
    return elapsed


def topology_copy(bootstrap: str, source: str, target: str, tmp: str, workers: int) -> float:
    from engine.binding import validate_text
    from engine.compiler import compile_topology
    from engine.runtime.runner import RunOptions, run_dataflow

    text = TOPOLOGY.format(bootstrap=bootstrap, source=source, target=target, dead=os.path.join(tmp, "dead.jsonl"))
    result = validate_text("kafka-bench.yaml", text, env={})
    if not result.ok or result.topology is None:
        raise SystemExit("\n".join(d.message for d in result.diagnostics))
    flow = compile_topology(result.topology)
    started = _start()
    run_dataflow(flow, RunOptions(workers=workers))
    return _elapsed(started)


_cpu_at_start = [0.0, 0.0]  # the process's, the main thread's
_cpu_spent = [0.0, 0.0]
_faults = [0, 0]  # minor page faults at the start of the timed part, and spent in it


def _start() -> float:
    """A flow's timed part begins: the wall clock, and this process's CPU time noted (every
    thread's: librdkafka's count too)."""
    _cpu_at_start[:] = time.process_time(), time.thread_time()
    _faults[0] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return time.perf_counter()


def _elapsed(started: float) -> float:
    """Wall seconds since ``_start``; the CPU seconds spent since then are noted."""
    _cpu_spent[:] = time.process_time() - _cpu_at_start[0], time.thread_time() - _cpu_at_start[1]
    _faults[1] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - _faults[0]
    return time.perf_counter() - started


def child(flow: str, bootstrap: str, source: str, target: str, count: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if flow in ("raw", "raw-json"):
            seconds = raw_copy(bootstrap, source, target, count, parse=flow == "raw-json")
        elif flow == "topology":
            seconds = topology_copy(bootstrap, source, target, tmp, workers)
        else:
            from kafka_quix import quix_copy  # in the Quix Streams Python only

            seconds = quix_copy(bootstrap, source, target, count, _start, _elapsed)
    print(json.dumps({"seconds": seconds, "cpu_s": _cpu_spent[0], "main_cpu_s": _cpu_spent[1],
                      "rss_mib": peak_rss_mib(), "faults": _faults[1]}))


def peak_rss_mib() -> float:
    """This process's peak resident memory. Not ``ru_maxrss``: Linux carries the parent's over
    fork and exec, so every child would show the bench's own peak (the producer's queue)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; an upper bound


def run_child(python: str, flow: str, args, source: str, target: str) -> dict:
    done = subprocess.run([python, os.path.abspath(__file__), "--child", flow, "--bootstrap", args.bootstrap,
                           "--source", source, "--target", target, "--events", str(args.events),
                           "--workers", str(args.workers)], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{flow} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def records(bootstrap: str, topic: str) -> dict:
    """key -> value of every record of ``topic`` (its end offsets taken first)."""
    return {message.key(): orjson.loads(message.value() or b"null") for message in messages(bootstrap, topic)}


# a topic just made on a fresh broker may have no leader yet for a moment (one bench run stopped
# on "Broker: Not leader for partition" right after create_topics): asked again meanwhile
_ELECTING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}


def end_offsets(consumer: Consumer, topic: str, wait: float = 30) -> dict:
    """partition -> end offset, for every partition of ``topic`` (while its partitions have no
    leader yet, asked again for up to ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
            return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
        except KafkaException as exc:
            if exc.args[0].code() not in _ELECTING or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def messages(bootstrap: str, topic: str) -> list:
    """Every message of ``topic``, all partitions, up to the end offsets taken first."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    ends = end_offsets(consumer, topic)
    consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
    found, left = [], sum(ends.values())
    while left > 0:
        for message in consumer.consume(1000, 5.0):
            if message.error() is None:
                found.append(message)
                left -= 1
    consumer.close()
    return found


# -- the run --------------------------------------------------------------------------------
def broker(args):
    given = args.bootstrap or os.environ.get("VELOCITY_KAFKA_BOOTSTRAP")
    if given:
        return given, None
    state = tempfile.mkdtemp(prefix="kafka-bench-")
    started = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kafka"), "start", "--port", "0",
                              "--state-dir", state], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        raise SystemExit(f"cannot start Kafka: {started.stderr}")
    return started.stdout.strip().splitlines()[-1], state


def quix_python(given) -> str | None:
    python = given or sys.executable
    found = subprocess.run([python, "-c", "import quixstreams"], capture_output=True, timeout=120)
    return python if found.returncode == 0 else None


def spread(values: list) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}..{max(values):.3f}]"


def rounds(args, run: str, source: str, quix) -> None:
    flows = [f for f in FLOWS if f != "quix" or quix]
    results: dict = {flow: [] for flow in flows}
    for round_no in range(args.rounds):  # interleaved: raw, topology, quix, raw, ...
        targets = {flow: f"bench-{flow}-{run}-{round_no}" for flow in flows}
        create_topics(args.bootstrap, args.partitions, *targets.values())
        for flow in flows:
            python = quix if flow == "quix" else sys.executable
            results[flow].append(run_child(python, flow, args, source, targets[flow]))
        if round_no == 0 and quix:
            ours, theirs = records(args.bootstrap, targets["topology"]), records(args.bootstrap, targets["quix"])
            if ours != theirs or len(ours) != args.events:
                raise SystemExit(f"the topology and Quix wrote different records ({len(ours)} vs {len(theirs)})")
        print(f"round {round_no + 1}: " + "   ".join(
            f"{flow} {args.events / results[flow][-1]['seconds']:>9,.0f} ev/s "
            f"{1e6 * results[flow][-1]['cpu_s'] / args.events:>5.1f} us cpu/ev {results[flow][-1]['rss_mib']:>4.0f} MiB"
            for flow in flows), flush=True)
    print(f"load average after the rounds: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"events/s, median of {args.rounds} rounds: " + ", ".join(
        f"{flow} {args.events / statistics.median(r['seconds'] for r in results[flow]):,.0f}" for flow in flows))
    for flow in flows:  # last, for scripts
        print(f"rss {flow}: {spread([r['rss_mib'] for r in results[flow]])} MiB (peak, per round)")
        print(f"cpu {flow}: {spread([1e6 * r['cpu_s'] / args.events for r in results[flow]])} us/event")
        main = [1e6 * r["main_cpu_s"] / args.events for r in results[flow]]
        print(f"main thread cpu {flow}: {spread(main)} us/event")
        print(f"page faults {flow}: {spread([r['faults'] / args.events for r in results[flow]])} per event")
    for flow in (f for f in flows if f != "topology"):
        ratios = [peer["seconds"] / ours["seconds"] for peer, ours in zip(results[flow], results["topology"],
                                                                            strict=True)]
        print(f"ratio topology/{flow}: {spread(ratios)}")
    ratios = [raw["seconds"] / parsed["seconds"]
              for raw, parsed in zip(results["raw"], results["raw-json"], strict=True)]
    print(f"ratio raw-json/raw: {spread(ratios)}")  # what a flow that only parses and writes JSON keeps of raw
    for flow in (f for f in flows if f != "topology"):  # less load-bound than the wall clock on a shared box
        ratios = [peer["cpu_s"] / ours["cpu_s"] for peer, ours in zip(results[flow], results["topology"], strict=True)]
        print(f"ratio cpu topology/{flow}: {spread(ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--bootstrap", help="an existing broker (default: start one with scripts/kafka)")
    parser.add_argument("--workers", type=int, default=1, help="Bytewax workers of the topology")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each flow")
    parser.add_argument("--warm-up", type=int, default=1, metavar="N",
                        help="raw runs before the rounds, not counted (a fresh broker's first rounds are slow)")
    parser.add_argument("--quix-python", help="a Python that can import quixstreams (default: this one)")
    parser.add_argument("--child", choices=FLOWS, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bootstrap, args.source, args.target, args.events, args.workers)
        return
    args.bootstrap, state = broker(args)
    try:
        quix = quix_python(args.quix_python)
        if quix is None:
            print("quixstreams is not importable: the Quix Streams peer is left out (see --quix-python)")
        run = uuid.uuid4().hex[:8]
        source = f"bench-tech-{run}"
        create_topics(args.bootstrap, args.partitions, source)
        print(f"producing {args.events:,} events into {source} ({args.partitions} partitions) ...", flush=True)
        produced = produce(args.bootstrap, source, args.events)
        print(f"produce only: {args.events / produced:,.0f} events/s", flush=True)
        for number in range(args.warm_up):  # not counted: the broker's JVM compiles its hot paths
            target = f"bench-warm-up-{run}-{number}"
            create_topics(args.bootstrap, args.partitions, target)
            seconds = run_child(sys.executable, "raw", args, source, target)["seconds"]
            print(f"warm-up {number + 1} (not counted): raw {args.events / seconds:,.0f} ev/s", flush=True)
        print(f"load average before the rounds: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        rounds(args, run, source, quix)
    finally:
        if state:
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "kafka"), "stop", "--state-dir", state],
                           capture_output=True, timeout=60)
            shutil.rmtree(state, ignore_errors=True)  # the broker's log: gigabytes after a few runs


if __name__ == "__main__":
    main()
