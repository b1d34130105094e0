"""CPU and memory of technical -> domain: the transport-order topology vs a hand-written peer.

    python bench/domain_cpu.py [--transactions 10000] [--rounds 5] [--against CHECKOUT]

Publishes ``--transactions`` of the simulator's Debezium traffic for the transport-order tables
(inline Connect schemas, END markers; bench/domain_latency.py's workload) into fresh topics of a
broker of its own, up front. Then, in interleaved rounds (peer, topology, peer, ...), each
drains the whole backlog into a fresh output topic, in a process of its own:

* ``peer``: bench/domain_peer.py, confluent-kafka + orjson written for this flow alone (its
  docstring says what it does and leaves out), parsing each message whole, inline schema and all;
* ``peer-sliced``: the same with ``--sliced``: only each message's payload is parsed once its
  topic's schema text is known, as the engine's decoder does (the schema is ~7 KB of a message's
  ~8 KB);
* ``peer-checked``: bench/domain_peer_checked.py, the same peer (its ``main``), which also makes
  the checks the topology makes (redeliveries, exact big numbers, dead letters, TOAST
  placeholders, the domain schema), reading payloads only as ``--sliced``;
* ``topology``: ``velocity-flow deploy --env kafka topologies/velocity/transport_order_domain.yaml``
  as users run it, with ``VF_KAFKA_TAIL=false`` so it stops at the end of the topics, a fresh
  recovery store and a fresh domain topic (``VF_DOMAIN_PREFIX``). Its sources start at the
  earliest offset (the default ``start``), so the group id the file names only receives commits.

Measured per run: CPU seconds (user + sys, ``RUSAGE_CHILDREN`` deltas around the child, which
is waited for) and peak RSS (the kernel's VmHWM of the child and any process it starts, read
every 0.1 s while it runs: not ``ru_maxrss``, which a child inherits from the bench at fork).
Each round also runs each on empty topics: its start-up CPU, to show the per-message cost
without it. Every round checks that all wrote the same domain events, as a multiset of
canonical JSON (decimals compared as their text), ignoring what depends on the order in which
a transaction's changes of different tables arrive from their topics (one consumer for the peer,
one per topic for the topology): ``seq`` (a change's index in its transaction) and the order of
``changes``. (``occurred_at`` is compared: the commit time, ``source.ts_ms``, since 2026-12-04.)
All run with byte code cached as an installed package has it (bench/bytecode.py), and the
topology with its generated code kept as the engine keeps it (engine/code_cache.py: the first
drain of a run writes it, the later ones read it back, as a restarted flow does;
``VELOCITY_FLOW_NO_CACHE=1`` measures every start without it).

Prints per round, then for each peer ``ratio topology/PEER CPU per message`` (with and without
start-up) and ``ratio topology/PEER peak RSS``: median [min..max] of the per-round ratios.

``--against CHECKOUT`` (another checkout of this repository, e.g. a ``git worktree`` of an older
commit) drains its topology too, in the same rounds, right after this one's in odd rounds and
right before it in even ones, and adds ``ratio topology/against``: two versions of the engine
paired on one broker and backlog, which resolves changes a run against the peers does not (its
domain events must equal the others'), and ``ratio against/PEER`` for each peer, so that one run
gives both engines' figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from typing import Optional

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench.backlog_drain import _peak_memory  # noqa: E402
from bench.bytecode import engine_build, installed_env  # noqa: E402
from bench.domain_latency import TABLES, create_topics, private_broker, publish, technical_topics, workload  # noqa: E402
from bench.kafka_throughput import messages as topic_messages  # noqa: E402
from bench.kafka_throughput import spread  # noqa: E402

FLOW = "transport_order_domain"
# each message's inline schema parsed, or only its payload; and the peer making the topology's checks
PEERS = {"peer": ["domain_peer.py"], "peer-sliced": ["domain_peer.py", "--sliced"],
         "peer-checked": ["domain_peer_checked.py"]}  # the script, then its flags
TOPOLOGY = os.path.join("topologies", "velocity", f"{FLOW}.yaml")
TICKS = os.sysconf("SC_CLK_TCK")


# -- one child, measured ---------------------------------------------------------------------
def _stat_fields(stat: bytes) -> list:
    """A /proc ``stat`` line's fields after the command name (which may hold spaces and ')')."""
    return stat.rsplit(b")", 1)[1].split()


def _cpu_seconds(fields: list) -> float:
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _tree(root: int) -> dict:
    """``root`` and its descendants (from /proc's parent pids): pid -> CPU seconds so far."""
    parents: dict = {}
    cpu: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = _stat_fields(stat.read())
                parents.setdefault(int(fields[1]), []).append(int(entry))
                cpu[int(entry)] = _cpu_seconds(fields)
            except (OSError, IndexError, ValueError):
                continue
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        found[pid] = cpu.get(pid, 0.0)
        todo += parents.get(pid, [])
    return found


def _threads(pid: int) -> list:
    """``pid``'s threads as /proc shows them now: (tid, name as bytes, CPU seconds so far)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            continue
        found.append((int(tid), text[text.index(b"(") + 1:text.rindex(b")")], _cpu_seconds(_stat_fields(text))))
    return found


def _librdkafka_cpu(pid: int, threads: Optional[list] = None) -> dict:
    """CPU seconds so far of each librdkafka thread (named ``rdk:...``) of ``pid`` (of ``threads``,
    its ``_threads`` when already read): (pid, tid) -> s."""
    return {(pid, tid): seconds for tid, name, seconds in (_threads(pid) if threads is None else threads)
            if name.startswith(b"rdk:")}


def measured(command: list, env: dict, timeout: float = 600, cwd: str = ROOT) -> dict:
    """Run ``command`` (from ``cwd``, the repository root by default) to its end: CPU seconds of it and the children
    it waited for, peak RSS bytes (the sum over its processes of each one's peak), stdout, wall
    seconds, ``seen``: the CPU seconds of its processes as /proc last showed them (a check of
    ``cpu``, a little short of it: the last 0.1 s is not seen), and ``librdkafka``: the part of
    ``seen`` in librdkafka's threads (a producer waiting on a slow broker spins in one of them)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peaks: dict = {}
    seen: dict = {}
    rdk: dict = {}
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            for pid, cpu in _tree(process.pid).items():
                peaks[pid] = max(peaks.get(pid, 0), _peak_memory(pid))
                seen[pid] = max(seen.get(pid, 0.0), cpu)
                rdk.update(_librdkafka_cpu(pid))
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.1)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}:\n{stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "rss": sum(peaks.values()), "stdout": stdout, "wall": wall, "seen": sum(seen.values()),
            "processes": len(peaks), "librdkafka": sum(rdk.values())}


def deploy_command(path: str, recovery: str, processes: int = 1) -> list:
    return [sys.executable, "-m", "cli", "deploy", "-q", "-r", recovery, "-p", str(processes), path]


# -- output ----------------------------------------------------------------------------------
def canonical(raw: bytes) -> str:
    """A domain event without what the arrival order of its changes decides (module docstring)."""
    event = json.loads(raw, parse_float=str)
    changes = []
    for change in event.pop("changes"):
        change.pop("seq")
        changes.append(json.dumps(change, sort_keys=True))
    event["changes"] = sorted(changes)
    return json.dumps(event, sort_keys=True)


# -- the run ---------------------------------------------------------------------------------
def drain(kind: str, bootstrap: str, prefix: str, state: str, tag: str, base: dict, root: str = ROOT) -> tuple:
    """(measured run, output topic) of the peer or the topology on ``prefix``'s topics, in the
    environment ``base``; the topology of the checkout ``root``."""
    if kind in PEERS:
        out = f"{prefix}.{kind}-{tag}"
        create_topics(bootstrap, [out])
        script, *flags = PEERS[kind]
        command, env = [sys.executable, os.path.join("bench", script), bootstrap, prefix, out, *flags], base
    else:
        domain = f"{prefix}-{kind}-{tag}"
        out = f"{domain}.domain.transport_order"
        env = {**base, "KAFKA_BOOTSTRAP": bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_DOMAIN_PREFIX": domain,
               "VF_KAFKA_TAIL": "false", "VELOCITY_FLOW_ENV": "kafka"}
        command = deploy_command(TOPOLOGY, os.path.join(state, f"recovery-{prefix}-{kind}-{tag}"))
    return measured(command, env, cwd=root), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=10000, help="transactions in the backlog")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs of each")
    parser.add_argument("--against", metavar="CHECKOUT",
                        help="another checkout of this repository: its topology drains the same backlog in the "
                             "same rounds (after this one's in odd rounds, before it in even ones), and the "
                             "ratios include topology/against: two versions of the engine on one broker")
    args = parser.parse_args()
    against = os.path.abspath(args.against) if args.against else None
    if against is not None and not os.path.isfile(os.path.join(against, TOPOLOGY)):
        parser.error(f"--against {args.against}: no {TOPOLOGY} there")
    with private_broker("domain-cpu-") as (state, bootstrap):
        # ~3.5 transactions per order touch the transport-order tables
        txs = workload(f"{state}/tms", TABLES[FLOW], max(20, args.transactions // 3), 1)[:args.transactions]
        messages = sum(len(t) for t in txs)
        prefix, empty = "cpu" + uuid.uuid4().hex[:6], "none" + uuid.uuid4().hex[:6]
        create_topics(bootstrap, technical_topics(prefix, TABLES[FLOW]) + technical_topics(empty, TABLES[FLOW]))
        publish(bootstrap, prefix, 1e9, txs)
        del txs
        print(f"backlog: {args.transactions} transactions, {messages} technical messages; "
              f"CPU us per message (start-up included / excluded), peak RSS", flush=True)
        print(f"topology: {engine_build()}" + (f"; against: {engine_build(against)}" if against else ""), flush=True)
        base = installed_env()  # byte code as pip install caches it (bench/bytecode.py)
        if against is not None:  # (its byte code too)
            subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "cli"], cwd=against, env=base,
                           check=True, timeout=300, stdout=subprocess.DEVNULL)
        kinds = [*PEERS, "topology", *(["against"] if against else [])]
        baselines = [kind for kind in kinds if kind != "topology"]
        runs: dict = {kind: [] for kind in kinds}
        for round_no in range(1, args.rounds + 1):
            outputs, shown = {}, {}
            order = kinds if round_no % 2 else [*PEERS, *reversed(kinds[len(PEERS):])]  # the two topologies in turn
            for kind in order:
                root = (against or ROOT) if kind == "against" else ROOT  # (against: only with --against)
                run, outputs[kind] = drain(kind, bootstrap, prefix, state, f"r{round_no}", base, root)
                if kind in PEERS and json.loads(run["stdout"])["messages"] != messages:
                    raise SystemExit(f"the peer read {run['stdout'].strip()}, not the {messages} messages")
                idle, _ = drain(kind, bootstrap, empty, state, f"r{round_no}", base, root)
                run["startup"] = idle["cpu"]
                runs[kind].append(run)
                shown[kind] = (f"{kind} {run['cpu'] / messages * 1e6:6.1f} / "
                               f"{(run['cpu'] - idle['cpu']) / messages * 1e6:6.1f} us {run['rss'] / 2**20:4.0f} MiB")
            ours, theirs, *others = (Counter(canonical(m.value()) for m in topic_messages(bootstrap, outputs[k]))
                                     for k in ("topology", *baselines))
            if any(other != theirs for other in others):
                raise SystemExit(f"round {round_no}: the peers (or --against) wrote different domain events")
            if ours != theirs:
                raise SystemExit(f"round {round_no}: different domain events ({sum(ours.values())} from the topology, "
                                 f"{sum(theirs.values())} from the peer): {len(ours - theirs)} only in the "
                                 f"topology's, {len(theirs - ours)} only in the peer's "
                                 f"(e.g. {next(iter((ours - theirs) or (theirs - ours)))[:600]})")
            print(f"round {round_no}: " + "   ".join(shown[k] for k in runs)
                  + f"   ({sum(ours.values())} equal domain events)", flush=True)
        for kind in runs:
            print(f"{kind}: CPU {statistics.median(r['cpu'] for r in runs[kind]):.2f} s per drain, start-up "
                  f"{statistics.median(r['startup'] for r in runs[kind]):.2f} s, peak RSS "
                  f"{statistics.median(r['rss'] for r in runs[kind]) / 2**20:.0f} MiB (medians)")
        # --against's own ratios to the peers first, then the topology's (topology/against last)
        compared = [*(("against", peer) for peer in PEERS if against), *(("topology", b) for b in baselines)]
        for engine, peer in compared:
            pairs = list(zip(runs[peer], runs[engine], strict=True))
            work = [(t["cpu"] - t["startup"]) / (p["cpu"] - p["startup"]) for p, t in pairs]
            print(f"ratio {engine}/{peer} CPU per message, start-up excluded: {spread(work)}")
            print(f"ratio {engine}/{peer} CPU per message: {spread([t['cpu'] / p['cpu'] for p, t in pairs])}")
            print(f"ratio {engine}/{peer} peak RSS: {spread([t['rss'] / p['rss'] for p, t in pairs])}")


if __name__ == "__main__":
    main()
