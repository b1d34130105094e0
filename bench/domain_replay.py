"""The engine's own work on technical -> domain, without Kafka or Bytewax: its operators vs the peer's code.

    python bench/domain_replay.py [--transactions 10000] [--rounds 5]

bench/domain_cpu.py measures whole drains through a broker, and on a shared 2-core box their
CPU swings 2.5x between rounds of the same work, which hides any change under ~15%. This bench
takes the same backlog (bench/domain_latency.py's workload: the simulator's Debezium messages
with inline Connect schemas and END markers), keeps it in memory, and replays it in one
process, in batches of 100 per topic taken from the six topics in turn (as six sources deliver
them), through:

* ``engine``: the operators of topologies/velocity/transport_order_domain.yaml as the compiled
  flow calls them: each source's ``Decode``, ``debezium`` (``process_owned``: the source's
  events are owned whole), ``merge_transactions`` (``group_events_owned``: only it reads the
  debezium step's events; then its logic's ``add``;
  ``flush`` at the end), the domain ``map`` (its JSON-schema check included) and the Kafka
  sink's encoding of a batch; with the engine's GC thresholds (engine/runtime/runner.py);
* ``peer``: bench/domain_peer.py's ``DomainPeer`` with ``--sliced`` (only each payload parsed,
  as the engine's decoder does), one message at a time, its complete transactions released
  after each batch; with Python's default GC thresholds, as its own process has them.

Left out on both sides: Kafka (consume, produce, librdkafka's threads), and for the engine
Bytewax's scheduling, the steps' error boundaries, lineage and metrics. Rounds alternate
(engine, peer, engine, ...), on a fresh copy of nothing: the raw values are bytes, never changed.
The engine's operators are made once and each side runs one round untimed first, as a flow
(and the peers' process) runs for hours: a round is then the steady work on messages, not
the operators' first use (the code they generate when they first meet a row schema, a key,
a schema check: ~205 million instructions, paid once per process) nor the heap's growth (a
side's first round in a process is ~15% slower than its later ones: 3,000 transactions, 8
rounds alone, engine 20.3 us a message then 17.2-18.6, checked peer 16.7 then 14.6-16.3).
Each engine round starts with its memos of converted values forgotten (``forget``), as a
stream's values are mostly new. ``--fresh``: the engine's operators made anew for each round,
with no round untimed first (the measure of the figures before a6ca0b3, 2026-12-05). Every
round checks that both made the same domain events (bench/domain_cpu.py's ``canonical``).
Prints per round the CPU per message of each and the engine's per-step split, then ``ratio
engine/peer CPU per message``: median [min..max].
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Optional

import orjson

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.domain_cpu import canonical  # noqa: E402
from bench.domain_latency import TABLES, workload  # noqa: E402
from bench.domain_peer import DomainPeer  # noqa: E402
from bench.domain_peer_checked import CheckedPeer  # noqa: E402
from bench.kafka_throughput import spread  # noqa: E402
from engine.binding import validate_file  # noqa: E402
from engine.compiler.ownership import Ownership  # noqa: E402
from engine.connectors.kafka_messages import batch_message_encoder  # noqa: E402
from engine.operators.debezium_types import json_text  # noqa: E402
from engine.operators.decode import Decode  # noqa: E402
from engine.records import RawBatch  # noqa: E402
from engine.runtime.runner import _GC_THRESHOLDS  # noqa: E402

FLOW = "transport_order_domain"
TOPOLOGY = os.path.join(ROOT, "topologies", "velocity", f"{FLOW}.yaml")
BATCH = 100  # the Kafka source's default batch (engine/connectors/kafka_tuning.py)
STEPS = ("decode", "debezium", "merge", "map", "encode")
PEER_STEPS = ("read", "take", "events", "dumps")  # the peers' (peer_run)
SIDES = ("engine", "peer", "checked")
PEERS = SIDES[1:]
PEER_NAMES = {"peer": "peer", "checked": "checked peer"}  # the ratios' names (the last one's line is read)


def batches(txs: list, size: int = BATCH) -> list:
    """(topic, values) batches of ``size`` per topic, the topics taken in turn."""
    per_topic: dict = {}
    for messages in txs:
        for suffix, value in messages:
            per_topic.setdefault(f"r.{suffix}", []).append(value)
    queues = {topic: [values[i:i + size] for i in range(0, len(values), size)] for topic, values in per_topic.items()}
    out = []
    for index in range(max(map(len, queues.values()))):
        out += [(topic, chunks[index]) for topic, chunks in queues.items() if index < len(chunks)]
    return out


def operators() -> tuple:
    """The topology's steps: debezium, merge_transactions, map; the debezium step gives the merge
    compact changes, linked as the compiler links them (engine/compiler/ownership.py)."""
    topology = validate_file(TOPOLOGY).topology
    changes, merge, domain = topology.steps
    Ownership(topology, ()).link_compact(merge)
    return changes.operator, merge.operator, domain.operator


def forget(changes) -> None:
    """The values the engine remembers from a round forgotten: the debezium step's memo of each
    column's converted values (kept by its compiled converters, which the ``--side engine`` runs
    keep from one round to the next) and the module-wide memo of plain JSON texts. A round of
    the same backlog would otherwise find every value it converts remembered (on the
    300-transaction backlog, ~10% of the engine's instructions a message), which no stream
    gives: a stream's values are mostly new, and the memos hold only the last 1,024 of a column."""
    for entries in changes._cache.values():  # (the bench's reach into the operator: no API of its own)
        for _, convs in entries:
            for _, convert in convs:
                memo = getattr(convert, "memo_get", None)
                if memo is not None:
                    memo.__self__.clear()
    json_text.plain_texts.clear()


def engine_run(order: list, steps: Optional[tuple] = None, until: str = STEPS[-1],
               dead: Optional[list] = None) -> tuple:
    """(encoded values, CPU seconds per step) of the topology's operators over ``order``
    (``steps``: ``operators()`` already made, their compiled code kept; the merge's state is
    always new; ``until``: the last of ``STEPS`` run, for bench/domain_instructions.py's split;
    ``dead``: a list that gets every step's dead letters, for tests/bench/test_domain_peer_checked.py)."""
    last = STEPS.index(until)
    changes, merge, domain = steps or operators()
    forget(changes)
    decoders = {topic: Decode(topic) for topic, _ in order}
    logic = merge.logic()
    encode = batch_message_encoder("out", 1 << 20, lambda topic: None)
    now = datetime.now(timezone.utc)
    spent = dict.fromkeys(STEPS, 0.0)
    values: list = []
    clock = time.process_time

    def downstream(released: list, started: float) -> None:
        mapped, refused = domain.process(released) if last >= 3 else ([], [])
        if dead is not None:
            dead.extend(refused)
        middle = clock()
        if last >= 4:
            values.extend(message[2] for message in encode(list(mapped)))
        spent["map"] += middle - started
        spent["encode"] += clock() - middle

    for topic, raw in order:
        started = clock()
        events, unread = decoders[topic].process(RawBatch(raw, topic, offsets=range(len(raw))))
        decoded = clock()
        spent["decode"] += decoded - started
        if last == 0:
            continue
        if not topic.endswith(".transaction"):
            events, unconverted = changes.process_owned(list(events))
            unread = [*unread, *unconverted]
        if dead is not None:
            dead.extend(unread)
        converted = clock()
        spent["debezium"] += converted - decoded
        if last == 1:
            continue
        released: list = []
        groups, unmerged = merge.group_events_owned(list(events))  # the flow's: its input is its own
        for _, group in groups:
            released_now, unmerged_now = logic.add(group, now)
            released += released_now
            unmerged += unmerged_now
        if dead is not None:
            dead.extend(unmerged)
        merged = clock()
        spent["merge"] += merged - converted
        if released:
            downstream(released, merged)
    started = clock()
    released, unmerged = logic.flush() if last >= 2 else ([], [])
    if dead is not None:
        dead.extend(unmerged)
    spent["merge"] += clock() - started
    if released:
        downstream(released, clock())
    return values, spent


def kept_operators(until: str):
    """``engine_run`` on the topology's operators made once, now: a round is the operators'
    work, not their making (each round still forgets their memos)."""
    steps = operators()
    return lambda order: engine_run(order, steps, until)


def peer_run(order: list, checked: bool = False, until: str = PEER_STEPS[-1]) -> tuple:
    """(encoded values, CPU seconds) of bench/domain_peer.py's peer (``checked``: its
    ``CheckedPeer``, bench/domain_peer_checked.py) over ``order``; ``until``: the last of
    ``PEER_STEPS`` run (bench/domain_instructions.py's split): ``read`` parses the messages
    only, ``take`` also converts and buffers them (no transaction is released), ``events``
    also makes the domain events (none written)."""
    peer = CheckedPeer("r.transaction") if checked else DomainPeer("r.transaction", sliced=True)
    take_all, values = peer.take_all, []
    if until == "read":
        take_all = _reader(peer, checked)
    elif until == "events":
        peer.dumps = lambda event, default=None: b""
    release = until != "read" and until != "take"
    started = time.process_time()
    for topic, raw in order:
        take_all(topic, raw)
        if release:
            values.extend(value for _, value in peer.released())
    return values, time.process_time() - started


def _reader(peer, checked: bool):
    """``take_all`` that only parses, as the peer's own reading does (parsed values kept until
    the next batch, as a batch's are while it is taken)."""
    kept: list = []

    def read_all(topic: str, raws: list) -> None:
        if checked:
            usual = peer.read.batch(topic, raws)
            kept[:] = [peer.read.one(topic, raw) for raw in raws] if usual is None else \
                list(map(orjson.loads, usual[1]))
        else:
            kept[:] = [peer.read(topic, raw) for raw in raws]
    return read_all


def timed(run, order: list, thresholds: tuple) -> tuple:
    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*thresholds)
    try:
        return run(order)
    finally:
        gc.set_threshold(*before)


def backlog(args) -> list:
    """The batches of ``args.transactions`` transactions' messages, from ``args.backlog`` when
    that file exists (it is ours: written below; its transactions and batch size then replace
    the arguments'), else made and kept there."""
    if args.backlog and os.path.exists(args.backlog):
        with open(args.backlog, "rb") as kept:
            args.transactions, args.batch_size, order = pickle.load(kept)
        return order
    with tempfile.TemporaryDirectory(prefix="domain-replay-") as tmp:
        txs = workload(f"{tmp}/tms", TABLES[FLOW], max(20, args.transactions // 3), 1)[:args.transactions]
    order = batches(txs, args.batch_size)
    if args.backlog:
        with open(args.backlog, "wb") as kept:
            pickle.dump((args.transactions, args.batch_size, order), kept)
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=10000, help="transactions in the backlog")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    parser.add_argument("--batch-size", type=int, default=BATCH, help="messages per batch of a topic")
    parser.add_argument("--backlog", help="a file keeping the backlog's batches (pickled): read when it exists, "
                                          "else written")
    parser.add_argument("--side", choices=("both", *SIDES), default="both",
                        help="run one side only, --rounds times (0: the set-up alone), with no check and no "
                             "ratio: for bench/domain_instructions.py, which counts a run's instructions")
    parser.add_argument("--until", choices=STEPS + PEER_STEPS,
                        help="with --side: the last step run, one of STEPS for the engine, of PEER_STEPS for a peer "
                             "(bench/domain_instructions.py --steps)")
    parser.add_argument("--fresh", action="store_true",
                        help="both sides: the engine's operators made anew for each round, and no round run untimed "
                             "first (their first use and the heap's growth counted in every round)")
    args = parser.parse_args()
    order = backlog(args)
    messages = sum(len(raw) for _, raw in order)
    gc.freeze()  # the backlog itself: walked by neither side's collections
    print(f"backlog: {args.transactions} transactions, {messages} technical messages, batches of {args.batch_size}; "
          "CPU us per message", flush=True)
    default_gc = gc.get_threshold()
    runs = {"engine": (engine_run, _GC_THRESHOLDS), "peer": (peer_run, default_gc),
            "checked": (lambda order: peer_run(order, checked=True), default_gc)}
    if args.until is not None and (args.side == "both" or (args.until in STEPS) != (args.side == "engine")):
        parser.error(f"--until {args.until} is not a step of --side {args.side}")
    if args.side != "both":
        run, thresholds = runs[args.side]
        if args.side == "engine":
            run = kept_operators(args.until or STEPS[-1])
        elif args.until is not None:
            run = lambda order: peer_run(order, args.side == "checked", args.until)  # noqa: E731
        for round_no in range(1, args.rounds + 1):
            produced, spent = timed(run, order, thresholds)
            seconds = sum(spent.values()) if type(spent) is dict else spent
            print(f"round {round_no}: {args.side} {seconds / messages * 1e6:5.2f} us, "
                  f"{len(produced)} domain events", flush=True)
        return
    if not args.fresh:
        runs["engine"] = (kept_operators(STEPS[-1]), _GC_THRESHOLDS)
        for side in SIDES:  # untimed: the operators' first use and the heap's growth (the docstring)
            timed(runs[side][0], order, runs[side][1])
    cpu: dict = {side: [] for side in SIDES}
    for round_no in range(1, args.rounds + 1):
        made, split = {}, {}
        for side in SIDES[round_no % 3:] + SIDES[:round_no % 3]:  # each side first in turn
            made[side], spent = timed(runs[side][0], order, runs[side][1])
            if side == "engine":
                split, spent = spent, sum(spent.values())
            cpu[side].append(spent)
        ours = Counter(map(canonical, made["engine"]))
        for peer in PEERS:
            if Counter(map(canonical, made[peer])) != ours:
                raise SystemExit(f"round {round_no}: different domain events ({len(made['engine'])} from the engine, "
                                 f"{len(made[peer])} from the {peer} peer)")
        shown = "  ".join(f"{step} {split[step] / messages * 1e6:.2f}" for step in STEPS)
        print(f"round {round_no}: engine {cpu['engine'][-1] / messages * 1e6:5.2f} us ({shown})   "
              f"peer {cpu['peer'][-1] / messages * 1e6:5.2f} us   checked {cpu['checked'][-1] / messages * 1e6:5.2f} us"
              f"   ({len(made['engine'])} equal domain events)", flush=True)
    print("medians per message: " + ", ".join(f"{side} {statistics.median(cpu[side]) / messages * 1e6:.2f} us"
                                              for side in SIDES))
    for peer in PEERS:
        ratios = [ours / theirs for ours, theirs in zip(cpu["engine"], cpu[peer], strict=True)]
        print(f"ratio engine/{PEER_NAMES[peer]} CPU per message: {spread(ratios)}")

if __name__ == "__main__":
    main()
